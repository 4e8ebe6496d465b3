"""The selection service: POST /select runs pairwise tournaments with the judge on vLLM."""

