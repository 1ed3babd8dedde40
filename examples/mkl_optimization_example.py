"""MKL optimizer example (the API's examples/mkl_optimization_example.py), on neuroperf.

Builds a spiking-input echo state network end to end with MKLOptimizer: a sparse reservoir scaled
to spectral radius 0.9, spike trains filtered by an exponential synaptic kernel, the reservoir run
over the whole sequence, a ridge-regression readout fitted with the optimized matrix products, and
a batch of spike patterns projected through a weight matrix. Every result is checked against
numpy/scipy and timed against them.

    python examples/mkl_optimization_example.py [--quick]
"""
import argparse
import time

import numpy as np

import neuroperf as npf


def timed(fn, *args, repeat=3, **kwargs):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    args = parser.parse_args()
    n, steps, channels = (300, 500, 8) if args.quick else (2000, 5000, 32)
    rng = np.random.default_rng(42)

    config = npf.MKLConfig(num_threads=None, thread_affinity="balanced", enable_fast_math=True,
                           precision_mode="high", verbose=False)
    optimizer = npf.MKLOptimizer(config)
    print(f"neuroperf {npf.__version__}: {optimizer.num_threads} threads, "
          f"sgemm {n}x{n} on {optimizer.backend_for(n, n, n)}")

    # 1. Matrix multiplication.
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c, t_ours = timed(optimizer.optimize_matrix_multiply, a, b)
    _, t_np = timed(np.matmul, a, b)
    err = np.max(np.abs(c - a.astype(np.float64) @ b)) / np.max(np.abs(c))
    print(f"matmul {n}x{n} float32: {t_ours * 1e3:.2f} ms (numpy {t_np * 1e3:.2f} ms), rel. error {err:.1e}")

    # 2. Sparse reservoir at spectral radius 0.9.
    density = 10 / n
    w = npf.CsrMatrix.from_dense(rng.standard_normal((n, n)) * (rng.random((n, n)) < density))
    before = npf.scale_to_spectral_radius(w, 0.9)
    print(f"reservoir {n} neurons, {w.nnz} synapses: spectral radius {before.value:.4f} -> "
          f"{float(npf.spectral_radius(w)):.6f} ({before.method})")

    # 3. Spike trains filtered by an exponential synaptic kernel (tau 5 ms, dt 1 ms).
    spikes = rng.random((channels, steps)) < 0.05
    currents = optimizer.optimize_spike_convolution(spikes, npf.ExponentialKernel(5.0, 1.0), mode="full")
    currents = currents[:, :steps]  # causal filter: the first `steps` samples
    taps = np.exp(-np.arange(currents.shape[1]) / 5.0)
    ref = np.convolve(spikes[0].astype(np.float64), taps[:200])[:steps]
    print(f"synaptic currents {currents.shape}: max deviation from np.convolve {np.max(np.abs(currents[0] - ref)):.1e}")

    # 4. Run the reservoir on the currents and fit a readout that predicts channel 0 one step ahead.
    w_in = rng.standard_normal((n, channels)) * 0.5
    states, t_run = timed(optimizer.run_reservoir, np.zeros(n), w_in, w, currents.T.copy(), leak_rate=0.3)
    print(f"run_reservoir: {steps} steps in {t_run * 1e3:.1f} ms ({t_run / steps * 1e6:.2f} us/step)")
    x, y = states[:-1], currents[0, 1:]
    gram = optimizer.optimize_matrix_multiply(x, x, transpose_a=True) + 1e-4 * np.eye(n)
    w_out = np.linalg.solve(gram, optimizer.optimize_matrix_multiply(x, y[:, None], transpose_a=True))[:, 0]
    pred = x @ w_out
    nrmse = np.sqrt(np.mean((pred - y) ** 2)) / np.std(y)
    print(f"readout: one-step-ahead NRMSE {nrmse:.3f}")

    # 5. A batch of spike patterns through a weight matrix (event-driven when sparse).
    patterns = rng.random((64, n)) < 0.02
    weights = rng.standard_normal((n, 100), dtype=np.float32)
    out, t_batch = timed(optimizer.optimize_batch_processing, patterns, weights)
    _, t_np = timed(lambda: patterns.astype(np.float32) @ weights)
    assert np.allclose(out, patterns.astype(np.float32) @ weights, atol=1e-4)
    print(f"batch 64x{n} @ {n}x100: {t_batch * 1e6:.0f} us (numpy {t_np * 1e6:.0f} us)")

    # 6. Eigenvalues of a small dense reservoir.
    small = rng.standard_normal((100, 100))
    eig = optimizer.optimize_eigenvalue_computation(small)
    print(f"eigenvalues of 100x100: max |lambda| {np.max(np.abs(eig)):.4f} "
          f"(numpy {np.max(np.abs(np.linalg.eigvals(small))):.4f})")

    report = optimizer.benchmark_performance(matrix_sizes=[64, 256] if args.quick else [100, 500, 1000],
                                             num_iterations=3)
    print(f"benchmark_performance: average speed-up over the builtin GEMM {report['average_speedup']:.2f}x, "
          f"max {report['max_speedup']:.2f}x")


if __name__ == "__main__":
    main()
