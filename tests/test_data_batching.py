"""Length-bucketed batches and padding."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.data.batching import make_batches, pad_batch


@settings(deadline=None, max_examples=60)
@given(
    lengths=st.lists(st.integers(1, 50), min_size=1, max_size=120),
    batch_size=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_make_batches_covers_every_index_once(lengths, batch_size, seed):
    batches = make_batches(lengths, batch_size, np.random.default_rng(seed))
    flat = np.concatenate(batches)
    assert flat.dtype == np.int64 and sorted(flat.tolist()) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    assert sum(len(b) < batch_size for b in batches) <= 1
    again = make_batches(lengths, batch_size, np.random.default_rng(seed))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_make_batches_groups_similar_lengths_and_shuffles():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=1000)
    batches = make_batches(lengths, 32, np.random.default_rng(1))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread <= 3, spread  # a random split would spread ~55
    other = make_batches(lengths, 32, np.random.default_rng(2))
    assert any(not np.array_equal(a, b) for a, b in zip(batches, other))
    ordered = make_batches(lengths, 32, shuffle=False)
    flat = np.concatenate(ordered)
    assert np.all(np.diff(lengths[flat]) >= 0)  # sorted, batches in order
    with pytest.raises(ValueError, match="batch_size"):
        make_batches(lengths, 0, rng)
    with pytest.raises(ValueError, match="rng"):
        make_batches(lengths, 4)


def test_pad_batch():
    ids, mask = pad_batch([np.array([5, 6, 7]), np.array([8]), np.array([], dtype=np.int64)], pad_id=0)
    assert ids.dtype == np.int64 and mask.dtype == bool and ids.shape == mask.shape == (3, 3)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False], [False, False, False]]
    ids, _ = pad_batch([[1, 2], [3]], pad_id=-1)
    assert ids.tolist() == [[1, 2], [3, -1]]
    with pytest.raises(ValueError, match="1-D integer"):
        pad_batch([np.array([1.5])])
    with pytest.raises(ValueError, match="at least one"):
        pad_batch([])
