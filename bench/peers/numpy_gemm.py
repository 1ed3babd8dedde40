#!/usr/bin/env python3
"""numpy GEMM peer for ``neuroperf bench``.

    numpy_gemm.py --sizes 8,16,64 [--dtypes float32,float64] [--threads 1]
                  [--min-time 0.2] [--seed 42] [--inputs-dir DIR]

Times ``a @ b`` for C-contiguous n x n matrices and prints ONE JSON object
``{"benchmarks": [rows...]}`` (Google Benchmark row format) on stdout; diagnostics
go to stderr. Rows are named ``sgemm/numpy/n=<n>/threads=<t>`` (float32) and
``dgemm/numpy/n=<n>/threads=<t>`` (float64); ``real_time`` is the median per-call
time (ns) over >= 5 batches, GFLOPS = 2 n^3 / real_time / 1e9.

Inputs: standard normal values from ``numpy.random.default_rng(seed)``, drawn in
float64 (a first, then b) with a fresh generator per size, then cast to the dtype
(so float32 and float64 runs see the same values, whatever the size list). With
--inputs-dir, ``DIR/a_<n>_<dtype>.npy`` and ``DIR/b_<n>_<dtype>.npy`` are used instead.
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
                    name = peerlib.bench_name(OPS[dtype], "numpy", n=n, threads=args.threads)
                    try:
                        a, b = _inputs(np, n, dtype, args.seed, args.inputs_dir)
                        timing = _time_matmul(a, b, args.min_time)
                    except Exception as exc:  # one bad case must not lose the others
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
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(dtype, order="C")
    b = rng.standard_normal((n, n)).astype(dtype, order="C")
    return a, b


def _time_matmul(a, b, min_time: float):
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
