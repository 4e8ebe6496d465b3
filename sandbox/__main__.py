"""``python -m sandbox label codet`` etc., before the commands are mounted in the daj CLI."""

from sandbox.cli import app

if __name__ == "__main__":
    app()
