"""Shared by the lessons: quick mode and the output folder.

``LSTM_NUMPY_QUICK=1`` makes every lesson run a smaller version of itself
(the test suite sets it).  Figures go to ``lessons/out/`` (git-ignored).
"""
import os
from pathlib import Path

QUICK = os.environ.get("LSTM_NUMPY_QUICK") == "1"
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)
