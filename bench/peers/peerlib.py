"""Shared helpers for neuroperf's peer benchmark scripts.

A peer script is run by ``neuroperf bench`` as a subprocess and must print exactly
one JSON object ``{"benchmarks": [rows...]}`` on stdout, rows in Google Benchmark's
JSON row format; every diagnostic goes to stderr.

Typical peer::

    import peerlib
    args = peerlib.parse_args("my peer", extra=lambda p: p.add_argument(...))
    peerlib.setup_threads(args.threads)      # BEFORE importing numpy/scipy/...
    import numpy as np
    with peerlib.stdout_to_stderr() as out:
        rows = [...]                         # peerlib.time_batched + peerlib.make_row
        peerlib.emit(rows, out)

This module deliberately imports nothing heavy (no numpy) at module level, so that
the thread environment can be set before any BLAS library is loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence, TextIO

#: Environment variables read by the common BLAS/OpenMP runtimes at load time.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def log(*parts: Any) -> None:
    """Print a diagnostic line on stderr (never stdout)."""
    print(f"[{os.path.basename(sys.argv[0]) or 'peer'}]", *parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- arguments


def _positive_int_list(text: str) -> list[int]:
    try:
        values = [int(tok) for tok in text.split(",") if tok.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _str_list(text: str) -> list[str]:
    values = [tok.strip() for tok in text.split(",") if tok.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected a non-empty comma-separated list")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def make_parser(description: str, *, dtypes: Sequence[str] | None = ("float32", "float64")) -> argparse.ArgumentParser:
    """The common peer command line: --sizes --threads --min-time --seed --inputs-dir [--dtypes]."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=_positive_int_list, required=True,
                        help="comma-separated problem sizes, e.g. 8,16,64")
    if dtypes is not None:
        parser.add_argument("--dtypes", type=_str_list, default=list(dtypes),
                            help=f"comma-separated dtypes (default: {','.join(dtypes)})")
    parser.add_argument("--threads", type=_positive_int, default=1,
                        help="number of threads for BLAS/OpenMP (default 1)")
    parser.add_argument("--min-time", type=_non_negative_float, default=0.5,
                        help="minimum measured seconds per benchmark (default 0.5)")
    parser.add_argument("--seed", type=int, default=42, help="RNG seed for inputs (default 42)")
    parser.add_argument("--inputs-dir", default=None,
                        help="directory with pre-generated inputs (peer-specific file names)")
    return parser


def parse_args(description: str, argv: Sequence[str] | None = None, *,
               dtypes: Sequence[str] | None = ("float32", "float64"),
               extra: Callable[[argparse.ArgumentParser], Any] | None = None) -> argparse.Namespace:
    """Parse the common peer arguments; ``extra(parser)`` may add peer-specific ones."""
    parser = make_parser(description, dtypes=dtypes)
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.inputs_dir is not None and not os.path.isdir(args.inputs_dir):
        parser.error(f"--inputs-dir {args.inputs_dir!r} is not a directory")
    return args


# --------------------------------------------------------------------------- threads


def setup_threads(threads: int) -> None:
    """Pin every BLAS/OpenMP runtime to ``threads`` threads.

    Must be called before numpy/scipy/numba/... are imported: the runtimes read
    these variables once, when their shared library is loaded.
    """
    for name in ("numpy", "scipy", "numba", "torch", "jax"):
        if name in sys.modules:
            log(f"warning: setup_threads() called after {name} was imported; "
                "the thread environment may be ignored by its runtime")
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)


@contextlib.contextmanager
def thread_limits(threads: int) -> Iterator[bool]:
    """Also limit already-loaded thread pools with threadpoolctl, if importable.

    Yields True when threadpoolctl is active, False otherwise (environment only).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(limits=threads):
        yield True


def blas_description() -> str | None:
    """Short description of the loaded BLAS, from threadpoolctl (e.g. 'openblas 0.3.31 pthreads SkylakeX')."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    descs = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        bits = [info.get("internal_api") or info.get("prefix") or "blas", info.get("version")]
        if info.get("threading_layer"):
            bits.append(info["threading_layer"])
        if info.get("architecture"):
            bits.append(info["architecture"])
        descs.append(" ".join(str(b) for b in bits if b))
    return "; ".join(dict.fromkeys(descs)) or None


# --------------------------------------------------------------------------- inputs


def splitmix64(np, z):
    """The splitmix64 finaliser on uint64 arrays (include/neuroperf/hash_random.hpp); wraps."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def counter_unit(np, seed: int, stream: int, n: int):
    """unit(h(stream, i)) for i in [0, n), float64: h = splitmix64(seed ^ (stream << 48) ^ i),
    unit = (h >> 11) * 2**-53 -- the counter hash the benchmark suites draw their inputs from."""
    key = np.uint64(seed) ^ (np.uint64(stream) << np.uint64(48))
    h = splitmix64(np, key ^ np.arange(n, dtype=np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Result of :func:`time_batched`; times are seconds per call."""

    real_time: float            # median over batches of (batch wall time / calls per batch)
    cpu_time: float             # median over batches of (batch process CPU time / calls per batch)
    iterations: int             # calls measured (excluding warm-up / calibration)
    batches: int
    calls_per_batch: int
    batch_real_times: list[float] = field(default_factory=list)  # per-call wall time of each batch


def time_batched(call: Callable[[], Any] | None = None, *,
                 batch: Callable[[int], Any] | None = None,
                 min_time: float = 0.5, min_batches: int = 5,
                 target_batch_time: float = 1e-3,
                 max_calls_per_batch: int = 1 << 30) -> Timing:
    """Time a call, batching it so that timer overhead is negligible.

    Give either ``call`` (a zero-argument callable) or ``batch`` (``batch(k)`` runs
    the operation ``k`` times; lets a peer inline the loop to cut call overhead).
    ``k`` is calibrated so one batch takes at least ``target_batch_time`` seconds;
    then batches are run until at least ``min_batches`` are done *and* ``min_time``
    seconds have been measured. The calibration runs double as warm-up.
    """
    if (call is None) == (batch is None):
        raise ValueError("give exactly one of call= or batch=")
    if batch is None:
        def batch(k: int, _call=call) -> None:
            for _ in range(k):
                _call()

    clock, cpu_clock = time.perf_counter, time.process_time
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Calibrate k (also warms up caches, allocator, BLAS thread pool).
        k = 1
        while True:
            t0 = clock()
            batch(k)
            elapsed = clock() - t0
            if elapsed >= target_batch_time or k >= max_calls_per_batch:
                break
            # aim a bit above the target; grow at most 100x per step
            growth = 1.2 * target_batch_time / elapsed if elapsed > 0 else 100.0
            k = min(max_calls_per_batch, max(k + 1, int(math.ceil(k * min(growth, 100.0)))))

        real, cpu = [], []
        measured = 0.0
        while len(real) < min_batches or measured < min_time:
            c0 = cpu_clock()
            t0 = clock()
            batch(k)
            t1 = clock()
            c1 = cpu_clock()
            measured += t1 - t0
            real.append((t1 - t0) / k)
            cpu.append((c1 - c0) / k)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing(real_time=statistics.median(real), cpu_time=statistics.median(cpu),
                  iterations=k * len(real), batches=len(real), calls_per_batch=k,
                  batch_real_times=real)


# --------------------------------------------------------------------------- rows and output


def bench_name(op: str, impl: str, **params: Any) -> str:
    """``<op>/<impl>/<k>=<v>/...`` in the given parameter order."""
    return "/".join([op, impl] + [f"{k}={v}" for k, v in params.items()])


def make_row(name: str, timing: Timing, *, counters: dict[str, float] | None = None,
             label: str | None = None, time_unit: str = "ns") -> dict[str, Any]:
    """A Google Benchmark 'iteration' row from a :class:`Timing`."""
    scale = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}[time_unit]
    row: dict[str, Any] = {
        "name": name,
        "run_name": name,
        "run_type": "iteration",
        "repetitions": 1,
        "repetition_index": 0,
        "iterations": timing.iterations,
        "real_time": timing.real_time * scale,
        "cpu_time": timing.cpu_time * scale,
        "time_unit": time_unit,
    }
    row.update(counters or {})
    row["batches"] = timing.batches
    row["calls_per_batch"] = timing.calls_per_batch
    # The spread of the per-call times over the batches (the median is real_time): as the
    # cv / min / max of neuroperf's repetitions.
    times = timing.batch_real_times
    if times:
        mean = statistics.fmean(times)
        row["real_time_min"] = min(times) * scale
        row["real_time_max"] = max(times) * scale
        row["cv"] = statistics.pstdev(times) / mean if mean > 0 else 0.0
    if label:
        row["label"] = label
    return row


def error_row(name: str, message: str) -> dict[str, Any]:
    """A Google Benchmark error row (the bench harness and plot.py skip these)."""
    return {"name": name, "run_name": name, "run_type": "iteration", "repetitions": 1,
            "repetition_index": 0, "iterations": 0, "real_time": 0.0,
            "cpu_time": 0.0, "time_unit": "ns", "error_occurred": True,
            "error_message": message}


def failed_case(name: str, exc: BaseException) -> dict[str, Any]:
    """Log a case that raised and return its error row: one bad case must not lose the others."""
    message = f"{type(exc).__name__}: {exc}"
    log(f"{name}: {message}")
    return error_row(name, message)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[TextIO]:
    """Send everything written to stdout (Python *and* C level) to stderr.

    Yields a text stream on the original stdout, for :func:`emit` only. This keeps
    stray prints/warnings from libraries out of the JSON the harness parses.
    """
    sys.stdout.flush()
    saved_fd = os.dup(1)
    saved_stdout = sys.stdout
    real_out = os.fdopen(saved_fd, "w", encoding="utf-8", closefd=True)
    try:
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        yield real_out
    finally:
        sys.stdout = saved_stdout
        try:
            sys.stderr.flush()
        finally:
            os.dup2(saved_fd, 1)
            real_out.close()


def emit(rows: list[dict[str, Any]], out: TextIO | None = None,
         context: dict[str, Any] | None = None) -> None:
    """Write ``{"benchmarks": rows}`` (plus optional context) as one JSON object."""
    doc: dict[str, Any] = {}
    if context:
        doc["context"] = context
    doc["benchmarks"] = rows
    out = out or sys.stdout
    out.write(json.dumps(doc, indent=2, allow_nan=False))
    out.write("\n")
    out.flush()
