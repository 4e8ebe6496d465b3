"""`python -m judge_training train --config configs/NAME.yaml`."""

from judge_training.cli import app

if __name__ == "__main__":
    app()
