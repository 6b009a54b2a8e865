"""The project's exceptions: each names the file, line or value at fault.

The command line prints any :class:`LSTMNumpyError` as one line,
``error: <message>``, and exits with status 2; anything else is a bug and
keeps its traceback.
"""


class LSTMNumpyError(Exception):
    """Base class of every error this package raises on purpose."""


class UsageError(LSTMNumpyError, ValueError):
    """Options that do not go together, or a run directory that is in the way."""


class DataNotFoundError(LSTMNumpyError, FileNotFoundError):
    """A data file or folder that is not there: names the path."""


class DataFormatError(LSTMNumpyError, ValueError):
    """A data file that does not match its format: names the file and line."""


class LabelSchemeError(DataFormatError):
    """Labels that fit no scheme, or a dev/test label the training split never had."""


class CheckpointError(LSTMNumpyError, ValueError):
    """A checkpoint that is truncated, foreign, from the future or mismatched."""


class TrainingError(LSTMNumpyError, RuntimeError):
    """Training cannot go on (a NaN or infinite loss or gradient)."""


class DegenerateModelError(LSTMNumpyError, RuntimeError):
    """A model that learned nothing (one label everywhere, no entity, below the baseline) is not
    dissected unless the user asks for it: names the seed and what is wrong."""


class ClusterError(LSTMNumpyError, RuntimeError):
    """A Dask scheduler that cannot be reached, or a seed that failed twice on the cluster."""


class UndefinedLabelWarning(UserWarning):
    """A label that a measure cannot be defined for (no tokens, never predicted): its row is NaN."""


class RunFormatError(LSTMNumpyError, ValueError):
    """A run directory's run.json or analysis.json that is broken, from another version, or
    whose data files changed on disk: names the file and what differs."""


class InteropError(LSTMNumpyError, ValueError):
    """A model file from another framework that cannot be read or represented: names the file,
    the tensor and what is wrong or unsupported."""
