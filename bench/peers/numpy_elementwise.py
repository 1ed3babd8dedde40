#!/usr/bin/env python3
"""numpy elementwise peer for ``neuroperf bench --suite elementwise``.

    numpy_elementwise.py --sizes 1000000 [--dtypes float64,float32] [--min-time 0.3] [--threads 1]

Times ``np.tanh(x)`` and ``np.exp(x)`` (a new array per call, as neuroperf's vector_tanh /
vector_exp rows) on the suite's inputs: x_i = lo + (hi - lo) * frac(i * phi), phi the golden
ratio's fraction, [-5, 5] for tanh and [-20, 20] for exp, computed in float64 and cast.
Prints ONE JSON object ``{"benchmarks": [rows...]}`` (Google Benchmark rows) on stdout, rows
named ``<fn>/numpy/n=<n>/dtype=<dtype>/precision=high`` (numpy has one accuracy, about 1 ulp).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


def inputs(np, n: int, fn: str, dtype: str):
    lo = -5.0 if fn == "tanh" else -20.0
    f = np.arange(n, dtype=np.float64) * 0.6180339887498949
    return (lo + (-lo - lo) * (f - np.floor(f))).astype(dtype)


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("numpy elementwise peer for neuroperf bench", argv)
    peerlib.setup_threads(args.threads)
    with peerlib.stdout_to_stderr() as out:
        import numpy as np
        label = f"numpy {np.__version__}"
        rows = []
        for n in args.sizes:
            for fn in ("tanh", "exp"):
                for dtype in args.dtypes:
                    name = peerlib.bench_name(fn, "numpy", n=n, dtype=dtype, precision="high")
                    try:
                        x = inputs(np, n, fn, dtype)
                        op = np.tanh if fn == "tanh" else np.exp
                        timing = peerlib.time_batched(lambda: op(x), min_time=args.min_time)
                    except Exception as exc:  # one bad case must not lose the others
                        rows.append(peerlib.failed_case(name, exc))
                        continue
                    rows.append(peerlib.make_row(name, timing, label=label))
                    peerlib.log(f"{name}: {timing.real_time * 1e6:.1f} us/call")
        peerlib.emit(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
