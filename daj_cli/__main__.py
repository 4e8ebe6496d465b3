"""`python -m daj_cli ...` is the `daj` console script."""

from daj_cli.main import main

main()
