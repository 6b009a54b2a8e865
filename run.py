"""Train LSTM taggers end to end and write everything under runs/<name>/.

    python run.py            # generated corpus, no download
    python run.py --help     # every option

The same command as ``python -m lstm_numpy``; the code is in lstm_numpy/cli.py.
"""
from lstm_numpy.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
