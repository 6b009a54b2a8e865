"""lstm_numpy: an LSTM tagger from scratch in NumPy and Numba, and the tools to measure and dissect its
neurons (Xin, Lin & Yu, EMNLP 2019).  The package's folders follow the pipeline; see README.md."""

__version__ = "0.2.0"
