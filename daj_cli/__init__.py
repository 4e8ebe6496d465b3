"""The composition root: the `daj` command, which mounts every package's commands (the top layer)."""
