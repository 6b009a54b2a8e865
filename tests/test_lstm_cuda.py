"""The CUDA LSTM equals the NumPy reference: under Numba's CUDA simulator here,
on a GPU where there is one, and its kernels compile to PTX for real GPUs.

The simulator must be switched on (NUMBA_ENABLE_CUDASIM=1) before numba.cuda is
first imported, and other tests in this pytest process import numba, so the
simulator checks run in a subprocess: a script (below, as a string) that exits
non-zero and prints "cuda (actual) vs numpy (desired)" on any mismatch.  The
simulator runs every GPU thread as a Python thread, so the shapes are tiny and
the examples few (about 30 s on 2 cores).
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TAIL = 4000  # characters of subprocess output shown on failure

COMMON = textwrap.dedent('''
    import numpy as np
    from numba import cuda
    assert "simulator" in cuda.is_available.__module__, "NUMBA_ENABLE_CUDASIM=1 did not take effect"
    from lstm_numpy.model.lstm import LSTMCache, lstm_backward, lstm_forward
    from lstm_numpy.model import lstm_cuda

    TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}

    def assert_close(mine, ref, dtype, name):
        assert mine.dtype == ref.dtype == dtype, f"{name}: dtype {mine.dtype}, reference {ref.dtype}"
        scale = max(1.0, float(np.abs(ref).max(initial=0.0)))  # atol relative to the array's size
        np.testing.assert_allclose(mine, ref, rtol=TOL[dtype]["rtol"], atol=TOL[dtype]["atol"] * scale,
                                   err_msg=f"{name}: cuda (actual) vs numpy (desired)")
''')

MATMUL_SCRIPT = COMMON + textwrap.dedent('''
    rng = np.random.default_rng(7)
    TILE = lstm_cuda.TILE
    # (M, K, P): none a multiple of the tile except where it pins the edge cases
    shapes = [(1, 1, 1), (5, TILE + 3, 17), (TILE + 1, 2 * TILE + 1, 3), (3, TILE, TILE)]
    for (M, K, P), dtype, transpose_a, transpose_b in zip(
            shapes, [np.float64, np.float32, np.float64, np.float32],
            [False, True, False, True], [False, False, True, True]):
        A, B = rng.normal(size=(M, K)).astype(dtype), rng.normal(size=(K, P)).astype(dtype)
        C, bias = rng.normal(size=(M, P)).astype(dtype), rng.normal(size=P).astype(dtype)
        op_a = np.ascontiguousarray(A.T) if transpose_a else A
        op_b = np.ascontiguousarray(B.T) if transpose_b else B
        name = f"{(M, K, P)} {dtype.__name__} transpose_a={transpose_a} transpose_b={transpose_b}"
        assert_close(lstm_cuda.matmul_cuda(op_a, op_b, transpose_a=transpose_a, transpose_b=transpose_b),
                     A @ B, dtype, "A @ B " + name)
        assert_close(lstm_cuda.matmul_cuda(op_a, op_b, out=C, accumulate=True, bias=bias,
                                           transpose_a=transpose_a, transpose_b=transpose_b),
                     A @ B + C + bias, dtype, "A @ B + C + bias " + name)
        print("ok", name)
''')

LSTM_SCRIPT = COMMON + textwrap.dedent('''
    from hypothesis import Phase, example, given, settings, strategies as st
    from strategies import lstm_problems

    ARGS = ("x", "mask", "h0", "c0", "Wx", "Wh", "b")

    def cast(p, dtype):
        return {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
                for k, v in p.items()}

    def pinned():
        """The largest shapes, padding inside and at both ends, ablated neurons."""
        rng = np.random.default_rng(11)
        N, T, D, H = 3, 4, 4, 4
        return {"x": rng.normal(size=(N, T, D)),
                "mask": np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1]], dtype=bool),
                "h0": rng.normal(size=(N, H)), "c0": rng.normal(size=(N, H)),
                "Wx": rng.normal(size=(D, 4 * H)), "Wh": rng.normal(size=(H, 4 * H)), "b": rng.normal(size=4 * H),
                "dout": rng.normal(size=(N, T, H)), "dhT": rng.normal(size=(N, H)), "dcT": rng.normal(size=(N, H)),
                "rng": rng}

    # no shrinking: each example costs seconds in the simulator; the first failure is reported as is
    @settings(max_examples=4, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate])
    @example(p=pinned(), dtype=np.float64, ablate="per sentence", final_grads=True)
    @given(p=lstm_problems(max_n=3, max_t=4, max_d=4, max_h=4), dtype=st.sampled_from([np.float64, np.float32]),
           ablate=st.sampled_from(["none", "shared", "per sentence"]), final_grads=st.booleans())
    def check(p, dtype, ablate, final_grads):
        q = cast(p, dtype)
        H = q["h0"].shape[1]
        N = q["h0"].shape[0]
        keep = None if ablate == "none" else (q["rng"].random(H if ablate == "shared" else (N, H)) < 0.5).astype(dtype)
        dhT, dcT = (q["dhT"], q["dcT"]) if final_grads else (None, None)
        ref_out, (ref_hT, ref_cT), ref_cache = lstm_forward(*(q[k] for k in ARGS), keep)
        out, (hT, cT), cache = lstm_cuda.lstm_forward_cuda(*(q[k] for k in ARGS), keep)
        assert isinstance(cache, LSTMCache)
        for name, mine, ref in (("out", out, ref_out), ("hT", hT, ref_hT), ("cT", cT, ref_cT)):
            assert_close(mine, ref, dtype, name)
        for name in ("gates", "h", "c", "tanh_c", "keep"):
            assert_close(getattr(cache, name), getattr(ref_cache, name), dtype, "cache." + name)
        assert np.all(out[~q["mask"]] == 0), "outputs at padded steps are zero"
        ref_grads = lstm_backward(q["dout"], dhT, dcT, ref_cache)
        grads = lstm_cuda.lstm_backward_cuda(q["dout"], dhT, dcT, cache)
        assert grads.keys() == ref_grads.keys(), f"gradient names {sorted(grads)} vs {sorted(ref_grads)}"
        for name in ref_grads:
            assert_close(grads[name], ref_grads[name], dtype, name)
        print("ok", dtype.__name__, "N, T, D, H =", q["x"].shape + (H,), "keep:", ablate, "dhT, dcT:", final_grads)

    check()

    # caches are interchangeable: cuda backward on a numpy cache and numpy backward on a cuda cache
    rng = np.random.default_rng(3)
    N, T, D, H = 2, 3, 3, 2
    mask = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
    args = (rng.normal(size=(N, T, D)), mask, rng.normal(size=(N, H)), rng.normal(size=(N, H)),
            rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H))
    dout = rng.normal(size=(N, T, H))
    _, _, ref_cache = lstm_forward(*args)
    _, _, cuda_cache = lstm_cuda.lstm_forward_cuda(*args)
    ref_grads = lstm_backward(dout, None, None, ref_cache)
    for name, grads in (("cuda backward, numpy cache", lstm_cuda.lstm_backward_cuda(dout, None, None, ref_cache)),
                        ("numpy backward, cuda cache", lstm_backward(dout, None, None, cuda_cache))):
        for key in ref_grads:
            assert_close(grads[key], ref_grads[key], np.float64, f"{name}: {key}")
    print("ok caches interchangeable")
''')

NO_GPU_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import lstm_numpy.model.lstm_cuda as lstm_cuda    # importing needs no GPU
    from lstm_numpy.model.backend import get_backend
    available, reason = lstm_cuda.cuda_status()
    assert not available and reason, (available, reason)
    x = np.zeros((1, 1, 1))
    try:
        backend = get_backend("cuda")
        backend.lstm_forward(x, np.ones((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)),
                        np.zeros((1, 4)), np.zeros((1, 4)), np.zeros(4))
    except lstm_cuda.CudaUnavailableError as error:
        print(error)
        sys.exit(0)
    sys.exit("asking for the cuda backend without a GPU raised no CudaUnavailableError")
''')


def run_python(script, simulator):
    """Run script in a fresh interpreter with this checkout (and tests/) importable."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"subprocess exited with {result.returncode}\n--- stdout (tail) ---\n{result.stdout[-TAIL:]}\n"
        f"--- stderr (tail) ---\n{result.stderr[-TAIL:]}")
    return result.stdout


def real_gpu():
    """(available, reason) of a real GPU in this process (never the simulator)."""
    from lstm_numpy.model.lstm_cuda import cuda_status
    available, reason = cuda_status()
    if available and "simulator" in reason:
        return False, "this pytest process runs under the CUDA simulator"
    return available, reason


def test_matmul_kernel_matches_numpy_in_simulator():
    out = run_python(MATMUL_SCRIPT, simulator=True)
    assert out.count("ok") == 4, out


def test_lstm_matches_reference_in_simulator():
    out = run_python(LSTM_SCRIPT, simulator=True)
    assert "ok caches interchangeable" in out and out.count("ok float") == 5, out


def test_cuda_backend_without_gpu_fails_with_a_clear_message():
    """Without a GPU (and without the simulator) the error says what is missing and what to use."""
    available, reason = real_gpu()
    if available:
        pytest.skip(f"a GPU is present ({reason})")
    message = run_python(NO_GPU_SCRIPT, simulator=False)
    assert "numba.cuda.is_available() is False" in message, message
    assert "--backend numba" in message and "NUMBA_ENABLE_CUDASIM=1" in message, message


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lstm_matches_reference_on_gpu(dtype):
    available, reason = real_gpu()
    if not available:
        pytest.skip(f"needs an NVIDIA GPU: {reason}")
    from lstm_numpy.model.lstm import lstm_backward, lstm_forward
    from lstm_numpy.model.lstm_cuda import lstm_backward_cuda, lstm_forward_cuda
    rng = np.random.default_rng(0)
    N, T, D, H = 9, 13, 21, 37   # several tiles, none full
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, size=N)[:, None]
    args = [a.astype(dtype) for a in (rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H)),
                                      rng.normal(size=(D, 4 * H)) / 4, rng.normal(size=(H, 4 * H)) / 6,
                                      rng.normal(size=4 * H))]
    x, h0, c0, Wx, Wh, b = args
    keep = (rng.random(H) < 0.8).astype(dtype)
    dout, dhT, dcT = (rng.normal(size=s).astype(dtype) for s in ((N, T, H), (N, H), (N, H)))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    ref_out, ref_final, ref_cache = lstm_forward(x, mask, h0, c0, Wx, Wh, b, keep)
    out, final, cache = lstm_forward_cuda(x, mask, h0, c0, Wx, Wh, b, keep)
    for name, mine, ref in (("out", out, ref_out), ("hT", final[0], ref_final[0]), ("cT", final[1], ref_final[1]),
                            ("gates", cache.gates, ref_cache.gates), ("c", cache.c, ref_cache.c)):
        np.testing.assert_allclose(mine, ref, **tol, err_msg=f"{name}: cuda (actual) vs numpy (desired)")
    grads, ref_grads = lstm_backward_cuda(dout, dhT, dcT, cache), lstm_backward(dout, dhT, dcT, ref_cache)
    for name in ref_grads:
        scale = max(1.0, float(np.abs(ref_grads[name]).max()))
        np.testing.assert_allclose(grads[name], ref_grads[name], rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   err_msg=f"{name}: cuda (actual) vs numpy (desired)")


def compile_ptx_or_skip():
    """numba.cuda.compile_ptx, or skip: it needs NVIDIA's NVVM library (a CUDA toolkit or numba-cuda[cu12])."""
    from numba import cuda
    if "simulator" in cuda.is_available.__module__:
        pytest.skip("this pytest process runs under the CUDA simulator, which cannot compile PTX")

    def probe(a):
        a[0] = 1.0

    try:
        cuda.compile_ptx(probe, "void(float32[:])", cc=(8, 0))
    except Exception as error:  # NvvmSupportError, missing libdevice, ...: anything means "cannot compile"
        pytest.skip("numba.cuda.compile_ptx is unavailable (install the cuda extra, numba-cuda[cu12], "
                    f"or a CUDA toolkit): {type(error).__name__}: {' '.join(str(error).split())[:300]}")


@pytest.mark.parametrize("cc", [(8, 0), (9, 0)], ids=["sm_80", "sm_90"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_compile_to_ptx(cc, dtype):
    compile_ptx_or_skip()
    from lstm_numpy.model.lstm_cuda import compile_kernels_ptx
    ptx = compile_kernels_ptx(cc, dtype)
    assert sorted(ptx) == ["_backward_step", "_forward_step", "_matmul", "_previous_states"]
    target = f"sm_{cc[0]}{cc[1]}"
    for name, text in ptx.items():
        assert re.search(rf"^\.target {target}\b", text, re.MULTILINE), f"{name}: no .target {target}"
        assert ".entry" in text, f"{name}: no kernel entry point"
        if dtype == np.float32:  # a stray float64 constant would make the float32 kernels slow
            assert ".f64" not in text, f"{name}: float64 instructions in the float32 kernel"
    assert ".shared" in ptx["_matmul"], "the tiled matmul uses shared memory"
