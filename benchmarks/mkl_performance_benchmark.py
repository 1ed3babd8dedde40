"""MKL optimizer benchmark (the API's benchmarks/mkl_performance_benchmark.py), on neuroperf.

Times every MKLOptimizer operation from Python against what a Python user would otherwise write
(numpy, scipy, ReservoirPy when installed) on the same inputs, checks that the answers agree, and
writes results/mkl_performance.json plus a speed-up plot (.png, .svg).

    python benchmarks/mkl_performance_benchmark.py [--quick] [--out DIR] [--repeat N]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import json
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_row as row, machine, median_time, plot_speedups, write_json  # noqa: E402

import neuroperf as npf  # noqa: E402


def cpp_call_time(n: int) -> float | None:
    """Seconds per MKLOptimizer 8x8 call measured by the C++ CLI (same machine, same run)."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "neuroperf", "bench", "--suite", "gemm", "--no-plot", "--out", out,
               "--min-time", "0.1", "--filter", f"^sgemm/mkl_optimizer/n={n}/threads=1$"]
        if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
            return None
        data = json.loads((Path(out) / "gemm.json").read_text())
        times = [b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[b["time_unit"]]
                 for b in data["benchmarks"] if b.get("run_type") == "iteration"]
        return min(times) if times else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one pass (CI)")
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--repeat", type=int, default=None, help="samples per timing (median reported)")
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 7)
    min_time = 0.01 if args.quick else 0.1
    rng = np.random.default_rng(42)
    rows: list[dict] = []
    opt = npf.enable_mkl_optimization()
    single = npf.MKLOptimizer(num_threads=1)
    print(f"neuroperf {npf.__version__}, {opt.num_threads} threads; median of {repeat} samples")

    def t(fn):
        return median_time(fn, repeat, min_time)

    # Matrix multiply (the API's matrix_sizes) against numpy's a @ b.
    sizes = [64, 256] if args.quick else [100, 500, 1000, 2000]
    for dt in (np.float32, np.float64):
        for n in sizes:
            a = rng.standard_normal((n, n)).astype(dt)
            b = rng.standard_normal((n, n)).astype(dt)
            assert np.allclose(opt.optimize_matrix_multiply(a, b), a @ b, rtol=1e-3, atol=1e-3 * n)
            row(rows, f"matmul/{np.dtype(dt).name}/n={n}", t(lambda: opt.optimize_matrix_multiply(a, b)),
                "numpy", t(lambda: a @ b), backend=opt.backend_for(n, n, n, np.dtype(dt).name))

    # Small products: Python call overhead and the 32x32 target (one thread, as numpy uses at this size).
    for n in (8, 32):
        a = rng.standard_normal((n, n)).astype(np.float32)
        ours = t(lambda: single.optimize_matrix_multiply(a, a))
        row(rows, f"matmul_small/float32/n={n}", ours, "numpy", t(lambda: a @ a))
        cpp = None if args.quick else cpp_call_time(n)
        if cpp:
            rows[-1]["cpp_call_s"] = cpp
            rows[-1]["python_overhead_s"] = ours - cpp
            print(f"    C++ call {cpp * 1e6:.2f} us -> Python overhead {(ours - cpp) * 1e6:.2f} us")
        # Into a preallocated result (out=), as in a loop that reuses its buffer.
        c = np.empty((n, n), np.float32)
        row(rows, f"matmul_small_out/float32/n={n}", t(lambda: single.optimize_matrix_multiply(a, a, out=c)),
            "numpy", t(lambda: np.matmul(a, a, out=c)))

    # Spike convolution: 64 channels x T, against np.convolve per channel, scipy.signal.fftconvolve
    # and (exponential kernel) scipy.signal.lfilter, the recursion our IIR path also runs. The peers
    # run on one thread (np.convolve and lfilter are serial; fftconvolve's FFTs too, by default),
    # so ours does as well: `single`.
    T = 2000 if args.quick else 100_000
    trains = (rng.random((64, T)) < 0.02).astype(np.float64)
    kern = npf.ExponentialKernel(20.0, 1.0, 400)  # 400 taps: exp(-20) ~ 2e-9 at the end
    taps = np.exp(-np.arange(400) / 20.0)
    ours_y = single.optimize_spike_convolution(trains[:2], kern, "same")
    assert np.allclose(ours_y, np.stack([np.convolve(c, taps, "same") for c in trains[:2]]), atol=1e-9)
    fir = rng.standard_normal(100)
    conv_ours = t(lambda: single.optimize_spike_convolution(trains, fir, "same"))
    conv_np = t(lambda: [np.convolve(c, fir, "same") for c in trains])
    row(rows, f"spike_conv/fir100/64x{T}/threads=1", conv_ours, "np.convolve", conv_np)
    try:
        import scipy.signal

        row(rows, f"spike_conv/fir100/64x{T}/threads=1", conv_ours, "scipy.fftconv",
            t(lambda: scipy.signal.fftconvolve(trains, fir[None, :], mode="same", axes=1)))
        ours = t(lambda: single.optimize_spike_convolution(trains, kern, "same"))
        name = f"spike_conv/exp_tau20/64x{T}/threads=1"
        row(rows, name, ours, "np.convolve", t(lambda: [np.convolve(c, taps, "same") for c in trains]))
        row(rows, name, ours, "scipy.fftconv",
            t(lambda: scipy.signal.fftconvolve(trains, taps[None, :], mode="same", axes=1)))
        # lfilter runs the untruncated recursion y[t] = x[t] + e^(-1/20) y[t-1] (causal output,
        # the same filtering work; ours is the 400-tap kernel, centred for "same").
        q = np.exp(-1.0 / 20.0)
        row(rows, name, ours, "scipy.lfilter", t(lambda: scipy.signal.lfilter([1.0], [1.0, -q], trains, axis=1)))
    except ImportError:
        pass

    # Echo state network: N=500, CSR density 0.01, 10^4 steps (the Python target: <= 3 us/step).
    try:
        import scipy.sparse as sp
    except ImportError:
        sp = None
    if sp is not None:
        n, d, steps = 500, 0.01, (2000 if args.quick else 10_000)
        w = sp.random(n, n, density=d, format="csr", random_state=1, dtype=np.float64)
        w.data -= 0.5
        w_in = rng.standard_normal((n, 50)) * 0.5
        u = rng.standard_normal((steps, 50))
        wc = npf.CsrMatrix.from_scipy(w)

        def scipy_loop():
            x = np.zeros(n)
            out = np.empty((steps, n))
            drive = u @ w_in.T
            for k in range(steps):
                x = np.tanh(drive[k] + w @ x)
                out[k] = x
            return out

        ref = scipy_loop()
        assert np.allclose(single.run_reservoir(np.zeros(n), w_in, wc, u), ref, atol=1e-9)
        ours = median_time(lambda: single.run_reservoir(np.zeros(n), w_in, wc, u), repeat, 0.0)
        peer = median_time(scipy_loop, max(1, repeat // 2), 0.0)
        row(rows, f"esn/N={n}/d={d}/steps={steps}", ours, "scipy loop", peer, us_per_step=ours / steps * 1e6)
        print(f"    {ours / steps * 1e6:.2f} us per step (scipy {peer / steps * 1e6:.2f})")
        try:
            from reservoirpy.nodes import Reservoir

            res = Reservoir(W=w, Win=w_in, bias=np.zeros(n), lr=1.0, activation="tanh", dtype=np.float64)
            res.initialize(u)

            def rpy_run():
                res.reset()
                return res.run(u)

            assert np.allclose(rpy_run(), ref, atol=1e-9)
            row(rows, f"esn/N={n}/d={d}/steps={steps}", ours, "reservoirpy",
                median_time(rpy_run, max(1, repeat // 2), 0.0))
        except ImportError:
            print("    reservoirpy not installed (scripts/setup --with-peers)")

    # Eigenvalues and spectral radius.
    n = 100 if args.quick else 500
    m = rng.standard_normal((n, n))
    row(rows, f"eigvals/n={n}", t(lambda: opt.optimize_eigenvalue_computation(m)), "numpy.eigvals",
        t(lambda: np.linalg.eigvals(m)))
    if sp is not None:
        import scipy.sparse.linalg as spl

        n = 1000 if args.quick else 5000
        w = sp.random(n, n, density=10 / n, format="csr", random_state=3)
        w.data -= 0.5
        rho = float(npf.spectral_radius(w))
        ours = median_time(lambda: npf.spectral_radius(w), max(1, repeat // 2), 0.0)
        try:
            # ARPACK with the Krylov size of our first solve (6 wanted values, ncv 80).
            def arpack():
                return spl.eigs(w, k=6, ncv=80, which="LM", return_eigenvectors=False)

            peer_rho = float(np.max(np.abs(arpack())))
            peer = median_time(arpack, max(1, repeat // 2), 0.0)
            row(rows, f"spectral_radius/n={n}", ours, "scipy eigs", peer, value=rho,
                peer_rel_diff=abs(peer_rho - rho) / rho)
        except Exception as e:  # ARPACK may fail to converge
            print(f"    scipy eigs failed: {e}")

    data = {"machine": machine(), "threads": opt.num_threads, "repeat": repeat, "neuroperf": npf.__version__,
            "results": rows}
    out = args.out / "mkl_performance.json"
    write_json(out, data)
    plot_speedups(rows, out.with_suffix(".png"), "neuroperf MKLOptimizer from Python")
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
