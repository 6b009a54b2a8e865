"""The lazy moving average of the weights equals the plain one computed at every step."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.model.layers import SparseRows
from lstm_numpy.training.averaging import WeightAverage


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.5, 0.9, 0.99]))
def test_lazy_average_equals_the_average_of_every_step(seed, decay):
    rng = np.random.default_rng(seed)
    params = {"table": rng.normal(size=(7, 3)), "W": rng.normal(size=(2, 4))}
    plain = {k: v.copy() for k, v in params.items()}
    average = WeightAverage(params, decay)
    for _ in range(int(rng.integers(1, 25))):
        rows = np.flatnonzero(rng.random(7) < 0.3)          # often none, never all at once
        grads = {"table": SparseRows(rows, rng.normal(size=(len(rows), 3))), "W": rng.normal(size=(2, 4))}
        average.before_step(params, grads)
        params["table"][rows] -= 0.1 * grads["table"].values   # an optimizer step
        params["W"] -= 0.1 * grads["W"]
        average.after_step(params, grads)
        for k in plain:                                      # every row, every step
            plain[k] = decay * plain[k] + (1 - decay) * params[k]
    got = average.averaged(params)
    for k in plain:
        np.testing.assert_allclose(got[k], plain[k], rtol=1e-12, atol=1e-12)


def test_average_state_round_trip_and_bad_decay():
    params = {"table": np.ones((3, 2))}
    average = WeightAverage(params, 0.9)
    grads = {"table": SparseRows(np.array([1]), np.ones((1, 2)))}
    average.before_step(params, grads)
    params["table"][1] = 3.0
    average.after_step(params, grads)
    meta, arrays = average.state_dict()
    again = WeightAverage(params, 0.5)
    again.load_state(meta, arrays)
    np.testing.assert_array_equal(again.averaged(params)["table"], average.averaged(params)["table"])
    assert average.averaged(params)["table"][1].tolist() == [1.2, 1.2]   # 0.9 * 1 + 0.1 * 3
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(params, 1.0)
