"""``python -m lstm_numpy``: the command line of ``run.py`` (lstm_numpy/cli.py)."""
from .cli import main

raise SystemExit(main(prog="python -m lstm_numpy"))
