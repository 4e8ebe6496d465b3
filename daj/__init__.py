"""daj: pick the right program out of N with a trained pairwise LLM judge."""

__version__ = "0.1.0"
