"""An exponential moving average of the weights, evaluated in place of the weights.

After every optimizer step t, for every parameter::

    avg <- decay * avg + (1 - decay) * w

The average is smoother than the last weights (it forgets with a time
constant of 1 / (1 - decay) steps) and often generalises a little better.

Embedding tables are updated lazily (only the rows in the batch), and the
average keeps up lazily too: a row untouched for k steps has a constant w, so
its average after those steps is ``w + (avg - w) * decay**k``.  We store, per
row, the step up to which its average is current, bring a row up to date just
before the optimizer changes it, and bring every row up to date when the
average is read.  Dense parameters are averaged at every step.
"""
from __future__ import annotations

import numpy as np

from ..model.layers import SparseRows


class WeightAverage:
    """avg (dict like params) of the weights; ``decay`` in (0, 1)."""

    def __init__(self, params, decay):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the averaging decay must be in (0, 1), got {decay}")
        self.decay, self.t = float(decay), 0
        self.avg = {name: w.copy() for name, w in params.items()}
        self.current = {}     # name -> (rows,) int64: the step each row's average is current at

    def _catch_up(self, name, w, rows):
        """Average of ``rows`` brought from their last step to step t (w constant meanwhile)."""
        k = self.t - self.current[name][rows]
        factor = (self.decay ** k).astype(w.dtype)[:, None]
        return w[rows] + (self.avg[name][rows] - w[rows]) * factor

    def before_step(self, params, grads):
        """Call before the optimizer step: rows it will change are brought up to date."""
        for name, g in grads.items():
            if isinstance(g, SparseRows):
                self.current.setdefault(name, np.zeros(params[name].shape[0], dtype=np.int64))
                self.avg[name][g.rows] = self._catch_up(name, params[name], g.rows)

    def after_step(self, params, grads):
        """Call after the optimizer step: fold the new weights into the average."""
        self.t += 1
        d = self.decay
        for name, g in grads.items():
            w, avg = params[name], self.avg[name]
            if isinstance(g, SparseRows):
                avg[g.rows] = d * avg[g.rows] + (1 - d) * w[g.rows]
                self.current[name][g.rows] = self.t
            else:
                avg *= avg.dtype.type(d)
                avg += avg.dtype.type(1 - d) * w

    def averaged(self, params):
        """name -> the averaged weights with every row up to date (new arrays)."""
        out = {}
        for name, avg in self.avg.items():
            if name in self.current:
                out[name] = self._catch_up(name, params[name], slice(None))
            else:
                out[name] = avg.copy()
        return out

    def state_dict(self):
        arrays = {f"avg:{k}": v for k, v in self.avg.items()}
        arrays.update({f"current:{k}": v for k, v in self.current.items()})
        return {"decay": self.decay, "t": self.t}, arrays

    def load_state(self, meta, arrays):
        self.decay, self.t = float(meta["decay"]), int(meta["t"])
        self.avg = {k[4:]: v.copy() for k, v in arrays.items() if k.startswith("avg:")}
        self.current = {k[8:]: v.copy() for k, v in arrays.items() if k.startswith("current:")}
