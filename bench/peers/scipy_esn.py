#!/usr/bin/env python3
"""scipy CSR echo state network peer for ``neuroperf bench --suite reservoir``.

    scipy_esn.py --sizes 500 --density 0.01 [--threads 1] [--min-time 0.3] [--seed 42]
                 [--steps 100] [--input-dim 50]

Times what a numpy/scipy user writes for an ESN sequence (float32, tanh, leak 1): the input
term for the whole sequence in one matmul, then the recurrent steps::

    pre = U @ W_in.T
    for t in range(T):
        x = np.tanh(pre[t] + W @ x)          # W: scipy.sparse.csr_array
        states[t] = x

and prints ONE JSON object ``{"benchmarks": [rows...]}`` (Google Benchmark rows) on stdout. Rows:
``reservoir/scipy/N=<n>/density=<d>/threads=<t>``; ``real_time`` is the median time of one
call of ``--steps`` steps (per step = real_time / steps), as neuroperf's own rows.

Inputs are bit-identical to neuroperf's (apps/neuroperf/suite_reservoir.cpp), from a counter
hash both sides compute::

    h(stream, i) = splitmix64(seed ^ (stream << 48) ^ i);  sym = (h >> 11) * 2**-53 * 2 - 1
    W: k = max(1, round(d*N)) entries per row; entry j of row i in column j*(N//k) + h(1, i*k+j) % (N//k),
       value sym(h(2, i*k+j)) / sqrt(k);   W_in (N x D): sym(h(3, i*D+j)) * 0.5;
    U (T x D): sym(h(4, t*D+j));  state0 = 0.
"""

from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


def add_esn_args(parser) -> None:
    parser.add_argument("--density", type=float, required=True, help="fraction of non-zero entries of W")
    parser.add_argument("--steps", type=int, default=100, help="time steps per timed call (default 100)")
    parser.add_argument("--input-dim", type=int, default=50, help="input dimension D (default 50)")


_splitmix64 = peerlib.splitmix64  # the suites' counter hash (include/neuroperf/hash_random.hpp)


def _hash(np, seed: int, stream: int, idx):
    key = np.uint64(seed) ^ (np.uint64(stream) << np.uint64(48))
    return _splitmix64(np, key ^ idx)


def _sym(np, seed: int, stream: int, idx):
    h = _hash(np, seed, stream, idx)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 * 2.0 - 1.0


def esn_inputs(np, n: int, density: float, input_dim: int, steps: int, seed: int):
    """(indptr int64, indices int32, values float32, W_in (N x D), U (T x D)) as neuroperf builds them."""
    with np.errstate(over="ignore"):
        k = max(1, int(round(density * n)))
        stride = n // k
        e = np.arange(n * k, dtype=np.uint64)
        j = (np.arange(n * k, dtype=np.int64) % k)
        off = (_hash(np, seed, 1, e) % np.uint64(stride)).astype(np.int64)
        indices = (j * stride + off).astype(np.int32)
        values = (_sym(np, seed, 2, e) * (1.0 / math.sqrt(k))).astype(np.float32)
        indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
        w_in = (_sym(np, seed, 3, np.arange(n * input_dim, dtype=np.uint64)) * 0.5).astype(np.float32)
        u = _sym(np, seed, 4, np.arange(steps * input_dim, dtype=np.uint64)).astype(np.float32)
    return indptr, indices, values, w_in.reshape(n, input_dim), u.reshape(steps, input_dim)


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("scipy CSR ESN peer for neuroperf bench", argv, dtypes=None, extra=add_esn_args)
    peerlib.setup_threads(args.threads)
    with peerlib.stdout_to_stderr() as out:
        import numpy as np
        import scipy
        import scipy.sparse as sp

        label = f"scipy {scipy.__version__} csr, numpy {np.__version__}"
        rows = []
        with peerlib.thread_limits(args.threads):
            for n in args.sizes:
                name = peerlib.bench_name("reservoir", "scipy", N=n, density=f"{args.density:g}", threads=args.threads)
                try:
                    indptr, indices, values, w_in, u = esn_inputs(np, n, args.density, args.input_dim, args.steps, args.seed)
                    w = sp.csr_array((values, indices, indptr), shape=(n, n))
                    x0 = np.zeros(n, dtype=np.float32)
                    states = np.empty((args.steps, n), dtype=np.float32)

                    def run() -> None:
                        pre = u @ w_in.T
                        x = x0
                        for t in range(args.steps):
                            x = np.tanh(pre[t] + w @ x)
                            states[t] = x

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
