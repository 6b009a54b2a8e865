"""What every benchmark needs installed, shown at the end of its --help."""

INSTALL = """install (from the repository root):
  python -m pip install ".[bench]"     the package and threadpoolctl, which sets and reports BLAS threads
  python -m pip install torch          optional: the PyTorch comparisons (a CPU build is enough);
                                       without it the torch rows are skipped with the reason
then run from the repository root, e.g. python benchmarks/bench_lstm.py --help"""
