#!/usr/bin/env python3
"""numpy / scipy.sparse batch-product peer for ``neuroperf bench --suite batch``.

    numpy_batch.py --sizes 4000 --batches 1,64 --densities 0.02,0.1
                   [--impls numpy,scipy_csr] [--threads 1] [--min-time 0.2] [--seed 42]

For each size n (N = M = n), batch size B and density p, times what a Python user writes for
spikes (B x N, 0/1 float32) times W (N x M, float32):

* ``numpy``:     ``spikes @ w`` with dense C-contiguous arrays (sgemm through numpy's BLAS);
* ``scipy_csr``: ``spikes_csr @ w`` with the spikes as a ``scipy.sparse.csr_array``
  (converted outside the timing), giving a dense B x M result.

Prints ONE JSON object ``{"benchmarks": [rows...]}`` (Google Benchmark rows) on stdout, rows
named ``batch/<impl>/B=<b>/N=<n>/M=<n>/density=<p>/threads=<t>`` like neuroperf's own, where t
is the thread count the implementation uses: --threads for numpy, 1 for scipy_csr (scipy's
sparse-times-dense product is serial; the suite asks for it once);
``real_time`` is the median per-call time over >= 5 batches, GFLOPS = 2 B N M / real_time
(the dense flop count, as for neuroperf's rows). Diagnostics go to stderr. scipy missing: its
rows are error rows, numpy's still run.

Inputs: the values of neuroperf's batch suite (apps/neuroperf/suite_batch.cpp), from the counter
hash h(stream, i) = splitmix64(seed ^ (stream << 48) ^ i), unit = (h >> 11) * 2**-53:
W[i] = 2 unit(h(1, i)) - 1 (row-major, rounded to float32), spikes[i] = unit(h(2, i)) < p.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

IMPLS = ("numpy", "scipy_csr")


def _densities(text: str) -> list[float]:
    import argparse
    try:
        values = [float(tok) for tok in text.split(",") if tok.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    if not values or any(not (0.0 <= v <= 1.0) for v in values):
        raise argparse.ArgumentTypeError(f"expected densities in [0, 1], got {text!r}")
    return values


def _extra(parser) -> None:
    parser.add_argument("--batches", type=peerlib._positive_int_list, required=True,
                        help="comma-separated batch sizes B")
    parser.add_argument("--densities", type=_densities, required=True,
                        help="comma-separated spike densities p in [0, 1]")
    parser.add_argument("--impls", type=peerlib._str_list, default=list(IMPLS),
                        help=f"comma-separated implementations (default: {','.join(IMPLS)})")


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("numpy / scipy.sparse batch product peer for neuroperf bench", argv,
                              dtypes=None, extra=_extra)
    bad = [i for i in args.impls if i not in IMPLS]
    if bad:
        print(f"numpy_batch.py: error: unknown implementation(s) {', '.join(bad)}; "
              f"supported: {', '.join(IMPLS)}", file=sys.stderr)
        return 2

    peerlib.setup_threads(args.threads)  # before numpy/scipy load their BLAS

    with peerlib.stdout_to_stderr() as out:
        import numpy as np
        try:
            import scipy
            import scipy.sparse as sp
        except ImportError as exc:  # scipy is a bench-only peer (scripts/setup --with-peers)
            sp, scipy, scipy_error = None, None, f"{type(exc).__name__}: {exc}"
        else:
            scipy_error = None

        with peerlib.thread_limits(args.threads) as limited:
            blas = peerlib.blas_description() or "unknown BLAS"
            labels = {"numpy": f"numpy {np.__version__} ({blas})",
                      "scipy_csr": f"scipy {scipy.__version__} csr_array @ dense" if scipy else "scipy missing"}
            peerlib.log(labels["numpy"], f"threads={args.threads}",
                        "(threadpoolctl)" if limited else "(environment only)")
            rows = []
            for n in args.sizes:
                for b in args.batches:
                    for p in args.densities:
                        spikes, w = _inputs(np, n, b, p, args.seed)
                        for impl in args.impls:
                            name = peerlib.bench_name("batch", impl, B=b, N=n, M=n, density=f"{p:g}",
                                                      threads=1 if impl == "scipy_csr" else args.threads)
                            try:
                                if impl == "scipy_csr":
                                    if sp is None:
                                        raise RuntimeError(scipy_error)
                                    lhs = sp.csr_array(spikes)
                                else:
                                    lhs = spikes
                                timing = peerlib.time_batched(lambda: lhs @ w, min_time=args.min_time)
                            except Exception as exc:  # one bad case must not lose the others
                                rows.append(peerlib.failed_case(name, exc))
                                continue
                            gflops = 2.0 * b * n * n / timing.real_time / 1e9
                            rows.append(peerlib.make_row(name, timing, counters={"GFLOPS": gflops},
                                                         label=labels[impl]))
                            peerlib.log(f"{name}: {timing.real_time * 1e6:.1f} us/call")
        peerlib.emit(rows, out)
    return 0


def _inputs(np, n: int, b: int, p: float, seed: int):
    w = (2.0 * peerlib.counter_unit(np, seed, 1, n * n) - 1.0).astype(np.float32).reshape(n, n)
    spikes = (peerlib.counter_unit(np, seed, 2, b * n) < p).astype(np.float32).reshape(b, n)
    return spikes, w


if __name__ == "__main__":
    sys.exit(main())
