"""Real parts for tests and benchmarks: a tiny model vLLM can load, and a private redis-server."""
