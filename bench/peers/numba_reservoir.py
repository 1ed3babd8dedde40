#!/usr/bin/env python3
"""Numba ``@njit(cache=True)`` reservoir (ESN) step peer for ``neuroperf bench --suite jit``.

    numba_reservoir.py --sizes 100,500,2000 [--dtypes float32,float64] [--seed 42] [--min-time 0.3]

The same step as neuroperf's compiled reservoir kernel (``compile_reservoir_update_kernel``
with dense W, D = 10, tanh, leak 0.3, bias): x' = 0.7 x + 0.3 tanh(W_in u + W x + b), written
as the loops a Numba user writes (row dot products, then tanh and the leak), in the dtype of
the row. One timed call = one step (state updated in place). Three forms, as a Numba user at
their best would try them:

    reservoir/numba/N=<n>/D=10/dtype=<d>           the loops, @njit (strict: the sums stay
                                                   sequential, LLVM cannot vectorise them)
    reservoir/numba_fastmath/N=<n>/D=10/dtype=<d>  the same loops, @njit(fastmath=True)
                                                   (reassociation allowed: vectorised sums)
    reservoir/numba_dot/N=<n>/D=10/dtype=<d>       np.dot(w, x) + np.dot(w_in, u) inside @njit
                                                   (BLAS gemv through Numba)
    compile/numba/kernel=reservoir_f64            compiling the float64 loop step

Inputs (apps/neuroperf/suite_jit.cpp computes the same, in float64 then rounded to the dtype):
W[i] = (2 unit(h(6, i)) - 1) / sqrt(N) (row-major), W_in[i] = 2 unit(h(7, i)) - 1,
x[i] = unit(h(8, i)) - 0.5, b[i] = 0.1 unit(h(9, i)), u[i] = unit(h(10, i)). Checked against
a numpy step (relative 1e-4 for float32, 1e-10 for float64) before timing.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402
from numba_conv import unit  # noqa: E402

D = 10
LEAK = 0.3


def _step(x, w_in, w, u, b, z, leak):
    n = x.shape[0]
    d = u.shape[0]
    for i in range(n):
        s = b[i]
        for j in range(d):
            s += w_in[i, j] * u[j]
        acc = w[i, 0] * x[0]
        for j in range(1, n):
            acc += w[i, j] * x[j]
        z[i] = np.tanh(s + acc)
    keep = 1 - leak
    for i in range(n):
        x[i] = keep * x[i] + leak * z[i]


def _step_dot(x, w_in, w, u, b, z, leak):
    z[:] = np.tanh(np.dot(w_in, u) + np.dot(w, x) + b)
    keep = 1 - leak
    for i in range(x.shape[0]):
        x[i] = keep * x[i] + leak * z[i]


np = None  # numpy, imported by main() after the thread environment is set


def define_kernel(njit, cache: bool, form: str = "numba"):
    global np
    import numpy
    np = numpy
    if form == "numba_dot":
        return njit(cache=cache)(_step_dot)
    return njit(cache=cache, fastmath=form == "numba_fastmath")(_step)


def inputs(np, n: int, dtype, seed: int):
    scale = 1.0 / math.sqrt(n)
    w = (scale * (2 * unit(np, seed, 6, n * n) - 1)).astype(dtype).reshape(n, n)
    w_in = (2 * unit(np, seed, 7, n * D) - 1).astype(dtype).reshape(n, D)
    x = (unit(np, seed, 8, n) - 0.5).astype(dtype)
    b = (0.1 * unit(np, seed, 9, n)).astype(dtype)
    u = unit(np, seed, 10, D).astype(dtype)
    return x, w_in, w, u, b


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("Numba reservoir step peer for neuroperf bench --suite jit", argv)
    peerlib.setup_threads(args.threads)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="neuroperf-numba-"))
    with peerlib.stdout_to_stderr() as out:
        import numba
        import numpy as np

        label = f"numba {numba.__version__} @njit(cache=True)"
        rows = []
        f64 = numba.float64
        sig = (f64[::1], f64[:, ::1], f64[:, ::1], f64[::1], f64[::1], f64[::1], f64)
        times = []
        for _ in range(3):
            f = define_kernel(numba.njit, False)
            t0 = time.perf_counter()
            f.compile(sig)
            times.append(time.perf_counter() - t0)
        s = sorted(times)
        rows.append(peerlib.make_row("compile/numba/kernel=reservoir_f64",
                                     peerlib.Timing(real_time=s[1], cpu_time=s[1], iterations=3, batches=3,
                                                    calls_per_batch=1, batch_real_times=times), label=label))
        forms = {form: define_kernel(numba.njit, True, form) for form in ("numba", "numba_fastmath", "numba_dot")}
        for n in args.sizes:
            for dt, (form, f) in ((dt, item) for dt in args.dtypes for item in forms.items()):
                name = peerlib.bench_name("reservoir", form, N=n, D=D, dtype=dt)
                try:
                    dtype = np.dtype(dt)
                    x, w_in, w, u, b = inputs(np, n, dtype, args.seed)
                    z = np.empty(n, dtype)
                    leak = dtype.type(LEAK)
                    ref = ((1 - LEAK) * x.astype(np.float64)
                           + LEAK * np.tanh(w_in.astype(np.float64) @ u + w.astype(np.float64) @ x + b))
                    f(x, w_in, w, u, b, z, leak)
                    err = float(np.max(np.abs(x - ref)))
                    if err > (1e-4 if dtype == np.float32 else 1e-10):
                        raise RuntimeError(f"step differs from numpy by {err:.3g}")
                    timing = peerlib.time_batched(lambda: f(x, w_in, w, u, b, z, leak), min_time=args.min_time)
                except Exception as exc:  # noqa: BLE001
                    rows.append(peerlib.failed_case(name, exc))
                    continue
                flops = 2.0 * n * (n + D)
                extra = {"numba": "", "numba_fastmath": ", fastmath=True", "numba_dot": ", np.dot"}[form]
                rows.append(peerlib.make_row(name, timing, counters={"GFLOPS": flops / timing.real_time * 1e-9},
                                             label=f"{label}{extra}, tanh, leak {LEAK}, bias"))
                peerlib.log(f"{name}: {timing.real_time * 1e6:.1f} us/call")
        peerlib.emit(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
