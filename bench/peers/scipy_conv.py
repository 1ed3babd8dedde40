#!/usr/bin/env python3
"""numpy/scipy spike-convolution peer for ``neuroperf bench --suite conv``.

    scipy_conv.py --sizes 10000 --channels 1000 --p 0.02 [--dtypes float32,float64]
                  [--kernels exp,fir100] [--threads 1] [--min-time 0.3] [--seed 42]

Times what a numpy/scipy user writes to filter every channel of a (channels x steps) spike
array, "same" mode, and prints ONE JSON object ``{"benchmarks": [rows...]}`` on stdout:

    np_convolve:        np.stack([np.convolve(row, h, "same") for row in x])
    scipy_fftconvolve:  scipy.signal.fftconvolve(x, h[None, :], mode="same", axes=1), inside
                        ``scipy.fft.set_workers(threads)``: its FFTs use the threads
    scipy_lfilter:      scipy.signal.lfilter(b, a, x, axis=1)   (causal: the first `steps`
                        samples of "full"; exp: b=[1], a=[1, -e^(-1/20)], the untruncated
                        recursion; fir100: b=h, a=[1])

Rows: ``conv/<impl>/channels=<c>/steps=<s>/kernel=<exp|fir100>/p=<p>/dtype=<d>/threads=<t>``;
``real_time`` is the median time of one call over the whole array. ``threads`` is the number
of threads the implementation actually uses: np.convolve and lfilter are serial, so their rows
always say ``threads=1`` (whatever --threads is) and sit with neuroperf's one-thread rows;
``--impls scipy_fftconvolve`` runs only the threaded one (the suite does so for its second
thread count, so the serial rows are not made twice).

Inputs are bit-identical to neuroperf's (apps/neuroperf/suite_conv.cpp)::

    h(i) = splitmix64(seed ^ (1 << 48) ^ i);  spike at (c, t) iff (h(c*steps + t) >> 11) * 2**-53 < p
    exp: taps exp(-i/20), i < L, L = 691 (float64) / 323 (float32) as neuroperf truncates;
    fir100: taps exp(-i/20), i < 100.
"""

from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

TAU = 20.0
IMPLS = ("np_convolve", "scipy_fftconvolve", "scipy_lfilter")
THREADED = frozenset({"scipy_fftconvolve"})  # the others run on one thread whatever the limits


def add_conv_args(parser) -> None:
    parser.add_argument("--channels", type=int, required=True, help="number of spike trains")
    parser.add_argument("--p", type=float, required=True, help="spike probability per step")
    parser.add_argument("--kernels", default="exp,fir100", help="comma-separated: exp, fir100")
    parser.add_argument("--impls", default=",".join(IMPLS), help="comma-separated subset of " + ",".join(IMPLS))


_splitmix64 = peerlib.splitmix64  # the suites' counter hash (include/neuroperf/hash_random.hpp)


def spike_inputs(np, channels: int, steps: int, p: float, seed: int, dtype: str):
    with np.errstate(over="ignore"):
        key = np.uint64(seed) ^ (np.uint64(1) << np.uint64(48))
        h = _splitmix64(np, key ^ np.arange(channels * steps, dtype=np.uint64))
        u = (h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (u < p).astype(dtype).reshape(channels, steps)


def exp_length(dtype: str) -> int:
    """neuroperf's automatic length: the first tap below 1e-7 (float32) / 1e-15 (float64)."""
    eps = 1e-7 if dtype == "float32" else 1e-15
    L = max(1, math.ceil(TAU * math.log(1 / eps)))
    while L > 1 and math.exp(-(L - 1) / TAU) < eps:
        L -= 1
    while math.exp(-L / TAU) >= eps:
        L += 1
    return L


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("numpy/scipy spike convolution peer for neuroperf bench", argv, extra=add_conv_args)
    kernels = [k for k in args.kernels.split(",") if k]
    impls = [i for i in args.impls.split(",") if i]
    unknown = [i for i in impls if i not in IMPLS]
    if unknown:
        print(f"scipy_conv.py: error: --impls: unknown {', '.join(unknown)}; expected a subset of "
              f"{', '.join(IMPLS)}", file=sys.stderr)
        return 2
    peerlib.setup_threads(args.threads)
    with peerlib.stdout_to_stderr() as out:
        import numpy as np
        import scipy
        import scipy.fft
        import scipy.signal as sig

        rows = []
        with peerlib.thread_limits(args.threads):
            label = f"numpy {np.__version__}, scipy {scipy.__version__}"
            for steps in args.sizes:
                for dtype in args.dtypes:
                    x = spike_inputs(np, args.channels, steps, args.p, args.seed, dtype)
                    for kernel in kernels:
                        L = exp_length(dtype) if kernel == "exp" else 100
                        h = np.exp(-np.arange(L) / TAU).astype(dtype)
                        q = math.exp(-1.0 / TAU)
                        calls = {
                            "np_convolve": lambda: np.stack([np.convolve(r, h, "same") for r in x]),
                            "scipy_fftconvolve": lambda: sig.fftconvolve(x, h[None, :], mode="same", axes=1),
                            "scipy_lfilter": (lambda: sig.lfilter(np.array([1.0], dtype), np.array([1.0, -q], dtype), x, axis=1))
                            if kernel == "exp" else (lambda: sig.lfilter(h, np.array([1.0], dtype), x, axis=1)),
                        }
                        for impl in impls:
                            used = args.threads if impl in THREADED else 1
                            name = peerlib.bench_name("conv", impl, channels=args.channels, steps=steps, kernel=kernel,
                                                      p=args.p, dtype=dtype, threads=used)
                            try:
                                with scipy.fft.set_workers(used):
                                    timing = peerlib.time_batched(calls[impl], min_time=args.min_time, min_batches=5)
                            except Exception as exc:  # one bad case must not lose the others
                                rows.append(peerlib.failed_case(name, exc))
                                continue
                            rows.append(peerlib.make_row(name, timing, label=label))
                            peerlib.log(f"{name}: {timing.real_time * 1e3:.2f} ms/call ({timing.batches} batches)")
        peerlib.emit(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
