"""Offline training of the pairwise judge (LoRA), with bi-level data reweighting."""
