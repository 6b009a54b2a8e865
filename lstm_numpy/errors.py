"""The project's exceptions: each names the file, line or value at fault."""


class LSTMNumpyError(Exception):
    """Base class of every error this package raises on purpose."""


class DataFormatError(LSTMNumpyError, ValueError):
    """A data file that does not match its format: names the file and line."""


class CheckpointError(LSTMNumpyError, ValueError):
    """A checkpoint that is truncated, foreign, from the future or mismatched."""


class TrainingError(LSTMNumpyError, RuntimeError):
    """Training cannot go on (a NaN or infinite loss or gradient)."""
