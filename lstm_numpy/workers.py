"""Where the per-seed work of a run runs: here, in worker processes (``--jobs J``), or on a
Dask cluster (``--cluster ADDRESS``).

    per_seed(fn, calls, jobs=1, cluster=None)   [fn(*call) for call in calls], one seed a call

Every kernel gives each sentence to one thread, so a seed's model and every number of its
dissection do not depend on where it ran or on how many Numba threads it had: all three
ways give the same bytes (tests/test_cli.py, tests/test_cluster.py).

**On a cluster** (the optional extra ``pip install ".[cluster]"``, dask.distributed):

* the arguments the calls share (the encoded corpus, the run's options) are sent to the
  cluster once (``Client.scatter``), not once per seed;
* each worker gives a seed as many Numba threads as its machine has cores for each of
  the tasks it may run at once there (cores // the threads of the machine's workers);
* a seed whose worker is lost (or which fails for a reason other than this project's own
  errors) is submitted once more, after the scheduler's own retries
  (``distributed.scheduler.allowed-failures``); if it fails again the run stops with one
  ``error:`` line naming the seed, and what the finished seeds wrote stays where it is
  (``--resume`` picks it up);
* the seeds write their checkpoints into the run directory themselves, so the workers must
  see it at the same path (a shared filesystem; docs/cluster.md);
* a scheduler that cannot be reached is one ``error:`` line naming the address.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from .errors import ClusterError, LSTMNumpyError, UsageError

CONNECT_TIMEOUT = "10s"      # how long to wait for the scheduler before saying it cannot be reached


def per_seed(fn, calls, jobs=1, cluster=None, announce=None, names=None):
    """``[fn(*call) for call in calls]``, one seed per call, in order: in this process, in ``jobs``
    spawned worker processes, or on the Dask scheduler at ``cluster``; away from this process fn
    gets ``threads=`` (its Numba threads).  announce: what the workers do, printed with their
    count, or None; names: what each call is ("seed 3"), for an error."""
    if cluster is not None:
        return on_cluster(cluster, fn, calls, announce, names)
    if jobs <= 1 or len(calls) == 1:
        return [fn(*call) for call in calls]
    jobs = min(jobs, len(calls))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if announce:
        print(f"{announce} {len(calls)} seeds in {jobs} processes of {threads} Numba thread(s) each")
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(fn, *call, threads=threads) for call in calls]
        return [future.result() for future in futures]


def connect(address):
    """A dask.distributed Client of the scheduler at ``address``, or UsageError (no Dask) /
    ClusterError (not reachable) in one line."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError('--cluster needs dask.distributed: pip install ".[cluster]"') from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ClusterError(f"--cluster {address}: cannot reach a Dask scheduler there ({reason})") from None


def check_cluster(address):
    """Connect to the scheduler at ``address`` and say how many workers it has, before a run does
    any work; ClusterError (or UsageError without Dask) in one line otherwise."""
    client = connect(address)
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        print(f"Dask scheduler at {address}: {len(workers)} workers, "
              f"{sum(info['nthreads'] for info in workers.values())} threads")
    finally:
        client.close()


def threads_by_worker(client):
    """{worker address: Numba threads a task there gets}: the cores of its machine shared by the
    threads (the tasks that may run at once) of every worker on that machine."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(os.cpu_count)
    busy = {}
    for info in workers.values():
        busy[info["host"]] = busy.get(info["host"], 0) + info["nthreads"]
    return {address: max(1, (cores.get(address) or 1) // busy[info["host"]]) for address, info in workers.items()}


def run_on_worker(fn, call, threads_of):
    """fn(*call, threads=...) on a Dask worker, with the Numba threads ``threads_of`` gives its address
    (1 for a worker that joined later)."""
    from distributed import get_worker
    import numba
    threads = min(threads_of.get(get_worker().address, 1), numba.config.NUMBA_NUM_THREADS)
    return fn(*call, threads=threads)


def shared_arguments(client, calls):
    """The calls with every argument that is the same object in all of them (and is not a plain
    number or string) replaced by one future of it: scattered to the cluster once."""
    if len(calls) < 2:
        return calls
    calls = [list(call) for call in calls]
    for i, value in enumerate(calls[0]):
        if isinstance(value, (int, float, str, bool, type(None))) or not all(call[i] is value for call in calls):
            continue
        future = client.scatter(value, hash=False)
        for call in calls:
            call[i] = future
    return [tuple(call) for call in calls]


def on_cluster(address, fn, calls, announce=None, names=None):
    """per_seed on the Dask scheduler at ``address`` (see the module docstring)."""
    names = names or [f"call {i + 1} of {len(calls)}" for i in range(len(calls))]
    client = connect(address)
    try:
        threads_of = threads_by_worker(client)
        if announce:
            print(f"{announce} {len(calls)} seeds on the Dask cluster at {address} ({len(threads_of)} workers)")
        sent = shared_arguments(client, calls)
        futures = [client.submit(run_on_worker, fn, call, threads_of, pure=False) for call in sent]
        results, failed = [None] * len(calls), []
        for index, future in enumerate(futures):
            for attempt in (1, 2):
                try:
                    results[index] = future.result()
                    break
                except LSTMNumpyError:
                    raise
                except Exception as err:         # a lost worker (KilledWorker), or a failure on it
                    if attempt == 2:
                        failed.append((index, " ".join(f"{type(err).__name__}: {err}".split())))
                        break
                    future = client.submit(run_on_worker, fn, sent[index], threads_of, pure=False)
        if failed:
            raise ClusterError(f"on the Dask cluster at {address}, "
                               + "; ".join(f"{names[index]} failed twice ({reason[:300]})" for index, reason in failed)
                               + "; what the other seeds wrote is kept")
        return results
    finally:
        client.close()
