#!/usr/bin/env python3
"""numpy GEMM peer for ``neuroperf bench``.

    numpy_gemm.py --sizes 8,16,64 [--dtypes float32,float64] [--threads 1]
                  [--min-time 0.2] [--seed 42] [--inputs-dir DIR]

Times, for C-contiguous n x n matrices, ``a @ b`` (a new result each call, what most numpy
code writes: row ``numpy``) and ``np.matmul(a, b, out=c)`` into a preallocated c (the same
work as neuroperf's rows, which write into a preallocated result: row ``numpy_out``), and
prints ONE JSON object ``{"benchmarks": [rows...]}`` (Google Benchmark row format) on stdout;
diagnostics go to stderr. Rows are named ``sgemm/<impl>/n=<n>/threads=<t>`` (float32) and
``dgemm/<impl>/n=<n>/threads=<t>`` (float64); ``real_time`` is the median per-call
time (ns) over >= 5 batches, GFLOPS = 2 n^3 / real_time / 1e9.

Inputs: the values of neuroperf's gemm suite (apps/neuroperf/bench_suites.cpp), from the
counter hash h(stream, i) = splitmix64(seed ^ (stream << 48) ^ i), unit = (h >> 11) * 2**-53:
a[i] = 2 unit(h(1, i)) - 1, b[i] = 2 unit(h(2, i)) - 1 (row-major), computed in float64 and
rounded to the dtype. With --inputs-dir, ``DIR/a_<n>_<dtype>.npy`` and ``DIR/b_<n>_<dtype>.npy``
are used instead.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

OPS = {"float32": "sgemm", "float64": "dgemm"}


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("numpy matmul (a @ b) peer for neuroperf bench", argv)
    bad = [d for d in args.dtypes if d not in OPS]
    if bad:
        print(f"numpy_gemm.py: error: unsupported dtype(s) {', '.join(bad)}; "
              f"supported: {', '.join(OPS)}", file=sys.stderr)
        return 2

    # Thread environment first: OpenBLAS/MKL read it when numpy loads them.
    peerlib.setup_threads(args.threads)

    with peerlib.stdout_to_stderr() as out:
        import numpy as np

        with peerlib.thread_limits(args.threads) as limited:
            blas = peerlib.blas_description() or _blas_from_numpy_config(np)
            label = f"numpy {np.__version__} ({blas or 'unknown BLAS'})"
            peerlib.log(label, f"threads={args.threads}",
                        "(threadpoolctl)" if limited else "(environment only)")

            rows = []
            for dtype in args.dtypes:
                for n in args.sizes:
                    names = {impl: peerlib.bench_name(OPS[dtype], impl, n=n, threads=args.threads)
                             for impl in ("numpy", "numpy_out")}
                    try:
                        a, b = _inputs(np, n, dtype, args.seed, args.inputs_dir)
                    except Exception as exc:  # one bad case must not lose the others
                        rows.extend(peerlib.failed_case(name, exc) for name in names.values())
                        continue
                    for impl, name in names.items():
                        try:
                            timing = _time_matmul(np, a, b, args.min_time, out=impl == "numpy_out")
                        except Exception as exc:
                            rows.append(peerlib.failed_case(name, exc))
                            continue
                        gflops = 2.0 * n ** 3 / timing.real_time / 1e9
                        rows.append(peerlib.make_row(name, timing, counters={"GFLOPS": gflops},
                                                     label=label))
                        peerlib.log(f"{name}: {timing.real_time * 1e9:.1f} ns/call, "
                                    f"{gflops:.2f} GFLOPS ({timing.batches} batches x "
                                    f"{timing.calls_per_batch} calls)")
        peerlib.emit(rows, out)
    return 0


def _inputs(np, n: int, dtype: str, seed: int, inputs_dir: str | None):
    if inputs_dir is not None:
        mats = []
        for which in ("a", "b"):
            path = os.path.join(inputs_dir, f"{which}_{n}_{dtype}.npy")
            m = np.load(path, allow_pickle=False)
            if m.shape != (n, n):
                raise ValueError(f"{path}: shape {m.shape}, expected {(n, n)}")
            if m.dtype != np.dtype(dtype):
                raise ValueError(f"{path}: dtype {m.dtype}, expected {dtype}")
            mats.append(np.ascontiguousarray(m))
        return mats[0], mats[1]
    a = (2.0 * peerlib.counter_unit(np, seed, 1, n * n) - 1.0).astype(dtype).reshape(n, n)
    b = (2.0 * peerlib.counter_unit(np, seed, 2, n * n) - 1.0).astype(dtype).reshape(n, n)
    return a, b


def _time_matmul(np, a, b, min_time: float, *, out: bool):
    if out:
        c = np.empty_like(a)
        matmul = np.matmul

        def batch(k: int) -> None:
            for _ in range(k):
                matmul(a, b, out=c)
    else:
        def batch(k: int) -> None:
            for _ in range(k):
                a @ b

    return peerlib.time_batched(batch=batch, min_time=min_time)


def _blas_from_numpy_config(np) -> str | None:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return " ".join(str(x) for x in (blas.get("name"), blas.get("version")) if x) or None
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
