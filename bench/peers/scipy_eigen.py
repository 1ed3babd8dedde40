#!/usr/bin/env python3
"""scipy eigenvalue peer for ``neuroperf bench --suite eigen``.

    scipy_eigen.py --sizes 100,500,1000 --sparse 10000:0.01,10000:0.1 [--threads 1]
                   [--min-time 0.5] [--seed 42] [--rel-tol 1e-6] [--max-restarts 100]

Rows (Google Benchmark JSON on stdout, diagnostics on stderr):

* ``eigvals/scipy_eigvals/N=<n>``: ``scipy.linalg.eigvals(a)`` of a dense float64 n x n matrix
  (LAPACK dgeev), median of >= 5 calls.
* ``eigen/scipy_eigs/N=<n>/density=<d>/threads=<t>``: ``scipy.sparse.linalg.eigs(A, k=6,
  which="LM", tol=rel_tol, ncv=ncv, maxiter=max_restarts)`` on the CSR reservoir, max |lambda|
  of the result. ``--ncv`` defaults to 80, the Krylov size neuroperf's first solve uses
  (max(80, 3k + 8), src/kernels/spectral.cpp: smaller sizes converged on a smaller eigenvalue
  in its measurements). ARPACK's answer is *not verified* (one solve: on these matrices it can
  converge to an eigenvalue that is not the largest); the label gives the value so it can be
  compared with neuroperf's verified one. Every case has an untimed warm-up call; a case
  slower than --slow-seconds is then timed over --repetitions warm calls (the suite passes its
  own repetition count, so the peer's median is over as many calls as ours), and reports their
  median.

Inputs are bit-identical to neuroperf's (apps/neuroperf/suite_eigen.cpp): entry (i, j) of seed
s uses h = splitmix64((s << 40) + i*N + j); it is stored when (h >> 11) * 2^-53 < density, with
value 2u - 1, u = (splitmix64(h) >> 11) * 2^-53. Dense matrices: flat index k, value
2*unit(splitmix64(splitmix64((s << 40) + k))) - 1.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


_splitmix64 = peerlib.splitmix64  # the suites' counter hash (include/neuroperf/hash_random.hpp)


def _unit(np, h):
    return (h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _reservoir(np, sp, n: int, density: float, seed: int):
    indptr = [0]
    cols, vals = [], []
    rows_per_chunk = max(1, 4_000_000 // n)
    base = np.uint64(seed << 40)
    for r0 in range(0, n, rows_per_chunk):
        r1 = min(n, r0 + rows_per_chunk)
        keys = base + np.arange(r0 * n, r1 * n, dtype=np.uint64)
        h = _splitmix64(np, keys)
        keep = _unit(np, h) < density
        hk = h[keep]
        v = 2.0 * _unit(np, _splitmix64(np, hk)) - 1.0
        idx = np.nonzero(keep)[0]
        r = idx // n
        c = (idx % n).astype(np.int32)
        counts = np.bincount(r, minlength=r1 - r0)
        indptr.extend((np.cumsum(counts) + indptr[-1]).tolist())
        cols.append(c)
        vals.append(v)
    return sp.csr_matrix((np.concatenate(vals), np.concatenate(cols), np.asarray(indptr, dtype=np.int64)),
                         shape=(n, n))


def _dense(np, n: int, seed: int):
    keys = np.uint64(seed << 40) + np.arange(n * n, dtype=np.uint64)
    return (2.0 * _unit(np, _splitmix64(np, _splitmix64(np, keys))) - 1.0).reshape(n, n)


def _sparse_list(text: str) -> list[tuple[int, float]]:
    out = []
    for tok in text.split(","):
        if tok.strip():
            n, d = tok.split(":")
            out.append((int(n), float(d)))
    return out


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--sparse", type=_sparse_list, default=[], help="N:density pairs, e.g. 10000:0.01")
        p.add_argument("--rel-tol", type=float, default=1e-6)
        p.add_argument("--max-restarts", type=int, default=100)
        p.add_argument("--ncv", type=int, default=80, help="ARPACK's Krylov size (neuroperf's first solve: 80)")
        p.add_argument("--slow-seconds", type=float, default=5.0,
                       help="cases whose warm-up call is slower than this are timed over --repetitions single calls")
        p.add_argument("--repetitions", type=int, default=3, help="timed calls of a slow case (median reported)")

    args = peerlib.parse_args("scipy eigvals / eigs peer for neuroperf bench", argv, dtypes=None, extra=extra)
    peerlib.setup_threads(args.threads)
    with peerlib.stdout_to_stderr() as out:
        import numpy as np
        import scipy
        import scipy.linalg
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        rows = []
        with peerlib.thread_limits(args.threads):
            label = f"scipy {scipy.__version__} ({peerlib.blas_description() or 'unknown BLAS'})"
            for n in args.sizes:
                name = peerlib.bench_name("eigvals", "scipy_eigvals", N=n)
                try:
                    a = _dense(np, n, args.seed)
                    timing = peerlib.time_batched(lambda: scipy.linalg.eigvals(a, check_finite=True),
                                                  min_time=args.min_time, min_batches=5)
                    rows.append(peerlib.make_row(name, timing, label=label, time_unit="us"))
                    peerlib.log(f"{name}: {timing.real_time * 1e3:.2f} ms")
                except Exception as exc:  # one bad case must not lose the others
                    rows.append(peerlib.failed_case(name, exc))
            for n, d in args.sparse:
                name = peerlib.bench_name("eigen", "scipy_eigs", N=n, density=d, threads=args.threads)
                a = _reservoir(np, sp, n, d, args.seed)
                v0 = np.random.default_rng(args.seed).uniform(-0.5, 0.5, n)
                found = []

                def call():
                    t0 = time.perf_counter()
                    try:
                        w = spla.eigs(a, k=6, which="LM", tol=args.rel_tol, ncv=min(args.ncv, n - 1), maxiter=args.max_restarts,
                                      v0=v0, return_eigenvectors=False)
                    except spla.ArpackNoConvergence as exc:
                        raise RuntimeError(f"ARPACK did not converge in {args.max_restarts} restarts "
                                           f"({time.perf_counter() - t0:.1f} s)") from exc
                    found.append(float(np.max(np.abs(w))))

                try:
                    t0 = time.perf_counter()
                    call()  # untimed warm-up (first-touch, imports, ARPACK work arrays)
                    first = time.perf_counter() - t0
                    if first > args.slow_seconds:
                        real, cpu = [], []
                        while len(real) < max(1, args.repetitions):
                            t0, c0 = time.perf_counter(), time.process_time()
                            call()
                            real.append(time.perf_counter() - t0)
                            cpu.append(time.process_time() - c0)
                        timing = peerlib.Timing(real_time=statistics.median(real), cpu_time=statistics.median(cpu),
                                                iterations=len(real), batches=len(real), calls_per_batch=1,
                                                batch_real_times=real)
                    else:
                        timing = peerlib.time_batched(call, min_time=args.min_time, min_batches=3,
                                                      target_batch_time=0.0)
                    rows.append(peerlib.make_row(name, timing, time_unit="us",
                                                 label=f"{label}; max|λ|={found[-1]:.10g}, unverified"))
                    peerlib.log(f"{name}: {timing.real_time:.3f} s, max|lambda|={found[-1]:.12g}")
                except Exception as exc:
                    rows.append(peerlib.failed_case(name, exc))
        peerlib.emit(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
