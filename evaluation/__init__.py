"""Best-of-N evaluation of judges and baselines on labelled pools (`daj eval`, docs/evaluation.md)."""
