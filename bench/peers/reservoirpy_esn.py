#!/usr/bin/env python3
"""ReservoirPy echo state network peer for ``neuroperf bench --suite reservoir``.

    reservoirpy_esn.py --sizes 500 --density 0.01 [--threads 1] [--min-time 0.3] [--seed 42]
                       [--steps 100] [--input-dim 50]

Times ``Reservoir(W=W, Win=W_in, bias=0, lr=1, activation="tanh").run(U)`` (float32, W a scipy
CSR matrix) over a sequence of ``--steps`` steps, the state reset to 0 before each call, and
prints ONE JSON object ``{"benchmarks": [rows...]}`` on stdout. Rows:
``reservoir/reservoirpy/N=<n>/density=<d>/threads=<t>``; ``real_time`` is the median time of one
call (per step = real_time / steps). Inputs: the same bit-identical recipe as scipy_esn.py.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402
from scipy_esn import add_esn_args, esn_inputs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("ReservoirPy ESN peer for neuroperf bench", argv, dtypes=None, extra=add_esn_args)
    peerlib.setup_threads(args.threads)
    with peerlib.stdout_to_stderr() as out:
        import numpy as np
        import scipy.sparse as sp
        try:
            import reservoirpy
            from reservoirpy.nodes import Reservoir
        except ImportError as exc:
            peerlib.log(f"reservoirpy not installed ({exc}); scripts/setup --with-peers installs it")
            return 3
        label = f"reservoirpy {reservoirpy.__version__}"
        rows = []
        with peerlib.thread_limits(args.threads):
            for n in args.sizes:
                name = peerlib.bench_name("reservoir", "reservoirpy", N=n, density=f"{args.density:g}",
                                          threads=args.threads)
                try:
                    indptr, indices, values, w_in, u = esn_inputs(np, n, args.density, args.input_dim, args.steps, args.seed)
                    w = sp.csr_matrix((values, indices, indptr), shape=(n, n))
                    res = Reservoir(W=w, Win=w_in, bias=np.zeros(n, dtype=np.float32), lr=1.0, activation="tanh",
                                    dtype=np.float32)
                    res.initialize(u)

                    def run() -> None:
                        res.reset()
                        res.run(u)

                    timing = peerlib.time_batched(run, min_time=args.min_time)
                except Exception as exc:  # one bad case must not lose the others
                    rows.append(peerlib.failed_case(name, exc))
                    continue
                rows.append(peerlib.make_row(name, timing, label=f"{label}, {args.steps} steps/call"))
                peerlib.log(f"{name}: {timing.real_time / args.steps * 1e6:.2f} us/step")
        peerlib.emit(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
