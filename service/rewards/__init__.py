"""Code rewards for RL trainers: `/rewards` batches (batch.py), how a run becomes a reward (scoring.py), the API
models (protocol.py) and OpenRLHF's remote reward protocol (openrlhf.py)."""
