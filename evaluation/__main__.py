"""`python -m evaluation ...`: the same command as `daj eval` once the lead mounts it."""

from evaluation.cli import app

if __name__ == "__main__":
    app()
