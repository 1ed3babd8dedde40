#!/usr/bin/env python3
"""Numba ``@njit(cache=True)`` FIR convolution peer for ``neuroperf bench --suite jit``.

    numba_conv.py --sizes 8,16,64 [--signal 100000] [--seed 42] [--min-time 0.3]

``--sizes`` are tap counts. The same operation as neuroperf's compiled convolution kernel
(``JITCompiler::compile_convolution_kernel``): ``numpy.convolve(x, h, "valid")`` on one float32
signal, written as the direct loop a Numba user writes (per output, a dot product with the reversed taps);
strict (``@njit``) and ``@njit(fastmath=True)`` (reassociation allowed, as neuroperf's
``enable_fastmath``). Rows (Google Benchmark JSON on stdout):

    convolution/numba/n=<n>/k=<k>/mode=valid/dtype=float32           strict
    convolution/numba_fastmath/n=<n>/k=<k>/mode=valid/dtype=float32  fastmath=True
    compile/numba/kernel=convolution_f32                             compiling the strict loop

Inputs (apps/neuroperf/suite_jit.cpp computes the same): x[i] = unit(h(5, i)) and
h[i] = exp(-0.2 i), both computed in float64 and rounded to float32, where
h(stream, i) = splitmix64(seed ^ (stream << 48) ^ i) and unit(z) = (z >> 11) * 2**-53.
The result is checked against numpy.convolve (relative 1e-4) before timing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


def add_args(parser) -> None:
    parser.add_argument("--signal", type=int, default=100000, help="signal length (default 100000)")


def unit(np, seed: int, stream: int, n: int):
    """unit(h(stream, i)) for i in [0, n), float64 (the suite's counter hash)."""
    return peerlib.counter_unit(np, seed, stream, n)


def _fir_valid(x, hr, y):
    # y[j] = sum_i hr[i] * x[j + i] with hr = h reversed: numpy.convolve(x, h, "valid") as a
    # forward dot product per output (LLVM vectorises it under fastmath=True).
    k = hr.shape[0]
    for j in range(y.shape[0]):
        acc = np.float32(0.0)
        for i in range(k):
            acc += hr[i] * x[j + i]
        y[j] = acc


np = None  # numpy, imported by main() after the thread environment is set


def define_kernels(njit, cache: bool):
    """Strict and fast-math versions of the module-level loop (Numba caches only those)."""
    global np
    import numpy
    np = numpy
    return njit(cache=cache)(_fir_valid), njit(cache=cache, fastmath=True)(_fir_valid)


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("Numba FIR convolution peer for neuroperf bench --suite jit", argv, dtypes=None,
                              extra=add_args)
    peerlib.setup_threads(args.threads)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="neuroperf-numba-"))
    with peerlib.stdout_to_stderr() as out:
        import numba
        import numpy as np

        label = f"numba {numba.__version__} @njit(cache=True)"
        sig = (numba.float32[::1], numba.float32[::1], numba.float32[::1])
        rows = []
        times = []
        for _ in range(3):
            strict, _fast = define_kernels(numba.njit, False)
            t0 = time.perf_counter()
            strict.compile(sig)
            times.append(time.perf_counter() - t0)
        rows.append(peerlib.make_row("compile/numba/kernel=convolution_f32", _fixed(times), label=label))

        strict, fast = define_kernels(numba.njit, True)
        n = args.signal
        x = unit(np, args.seed, 5, n).astype(np.float32)
        for k in args.sizes:
            h = np.exp(-0.2 * np.arange(k, dtype=np.float64)).astype(np.float32)
            hr = np.ascontiguousarray(h[::-1])
            ref = np.convolve(x.astype(np.float64), h.astype(np.float64), "valid")
            for impl, f in (("numba", strict), ("numba_fastmath", fast)):
                name = peerlib.bench_name("convolution", impl, n=n, k=k, mode="valid", dtype="float32")
                try:
                    y = np.empty(n - k + 1, np.float32)
                    f(x, hr, y)
                    err = float(np.max(np.abs(y - ref)) / max(1.0, float(np.max(np.abs(ref)))))
                    if err > 1e-4:
                        raise RuntimeError(f"result differs from numpy.convolve by {err:.3g}")
                    timing = peerlib.time_batched(lambda: f(x, hr, y), min_time=args.min_time)
                except Exception as exc:  # noqa: BLE001
                    rows.append(peerlib.failed_case(name, exc))
                    continue
                flops = 2.0 * k * (n - k + 1)
                rows.append(peerlib.make_row(name, timing, counters={"GFLOPS": flops / timing.real_time * 1e-9},
                                             label=f"{label}{', fastmath=True' if impl.endswith('fastmath') else ''}"))
                peerlib.log(f"{name}: {timing.real_time * 1e6:.1f} us/call")
        peerlib.emit(rows, out)
    return 0


def _fixed(seconds):
    s = sorted(seconds)
    med = s[len(s) // 2]
    return peerlib.Timing(real_time=med, cpu_time=med, iterations=len(s), batches=len(s), calls_per_batch=1,
                          batch_real_times=list(seconds))


if __name__ == "__main__":
    sys.exit(main())
