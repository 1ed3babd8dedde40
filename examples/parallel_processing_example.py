"""Parallel processing example (the API's examples/parallel_processing_example.py), on neuroperf.

1. Spike batches processed by a Python function on the thread strategy (the function calls a
   neuroperf kernel, which releases the GIL, so the batches really run side by side).
2. K echo state networks run in parallel, bit-identical to running them one after another.
3. Multi-modal reasoning: visual/audio/text cores of very different sizes, load-balanced, with
   the monitoring report.

    python examples/parallel_processing_example.py [--quick]
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp

import neuroperf as npf


def firing_rates(batch, window=50):
    """Smoothed population firing rate of one batch (neurons x time) of spikes."""
    opt = npf.MKLOptimizer(num_threads=1)
    return opt.optimize_spike_convolution(batch, np.ones(window) / window, mode="same").mean(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    config = npf.ParallelConfig(num_threads=None, parallel_strategy="thread", enable_load_balancing=True,
                                load_balance_threshold=0.8, verbose=False)
    processor = npf.ParallelProcessor(config)
    print(f"neuroperf {npf.__version__}: ParallelProcessor with {processor.num_threads} workers")

    # 1. Spike batches.
    n_batches, neurons, steps = (8, 50, 2000) if args.quick else (32, 200, 20000)
    batches = [rng.random((neurons, steps)) < 0.02 for _ in range(n_batches)]
    t = time.perf_counter()
    rates = processor.parallel_spike_processing(batches, firing_rates, window=50)
    t_par = time.perf_counter() - t
    t = time.perf_counter()
    serial = [firing_rates(b, window=50) for b in batches]
    t_ser = time.perf_counter() - t
    assert all(np.allclose(a, b) for a, b in zip(rates, serial))
    print(f"spike processing: {n_batches} batches in {t_par * 1e3:.1f} ms (serial loop {t_ser * 1e3:.1f} ms)")

    # 2. Reservoirs.
    k, n, t_steps = (4, 300, 100) if args.quick else (8, 2000, 200)
    ws = []
    for i in range(k):
        w = sp.random(n, n, density=0.1, format="csr", random_state=i)
        w.data -= 0.5
        npf_w = npf.CsrMatrix.from_scipy(w)
        npf.scale_to_spectral_radius(npf_w, 0.9)
        ws.append(npf_w)
    w_in = rng.standard_normal((n, 10)) * 0.5
    inputs = [rng.standard_normal((t_steps, 10)) for _ in range(k)]
    x0 = [np.zeros(n) for _ in range(k)]
    t = time.perf_counter()
    states = processor.parallel_reservoir_computation(x0, [w_in], ws, inputs, leak_rate=0.3)
    t_par = time.perf_counter() - t
    single = npf.MKLOptimizer(num_threads=1)
    t = time.perf_counter()
    ref = [single.run_reservoir(x0[i], w_in, ws[i], inputs[i], leak_rate=0.3) for i in range(k)]
    t_ser = time.perf_counter() - t
    identical = all(np.array_equal(a, b) for a, b in zip(states, ref))
    print(f"reservoirs: {k} x N={n} x {t_steps} steps in {t_par * 1e3:.1f} ms (serial {t_ser * 1e3:.1f} ms), "
          f"bit-identical to serial: {identical}")
    assert identical

    # 3. Multi-modal reasoning with cores of very different cost.
    scale = 1 if args.quick else 4
    cores = [npf.ReservoirReasoningCore("visual", reservoir_size=400 * scale, input_dim=64, output_dim=10),
             npf.ReservoirReasoningCore("audio", reservoir_size=150 * scale, input_dim=16, output_dim=10, seed=2),
             npf.ReservoirReasoningCore("text", reservoir_size=50 * scale, input_dim=8, output_dim=10, seed=3)]
    data = [rng.standard_normal((100, 64)).astype(np.float32), rng.standard_normal((100, 16)).astype(np.float32),
            rng.standard_normal((100, 8)).astype(np.float32)]
    for call in range(3):  # later calls use the measured costs
        outputs, report = processor.parallel_multi_modal_reasoning(cores * 2, data * 2, load_balance=True)
    print(f"multi-modal: {report['summary']}")
    stats = processor.get_performance_stats()
    print(f"stats: {stats['calls']} calls, {stats['tasks']} tasks, speed-up {stats['speedup']:.2f}x, "
          f"mean imbalance {stats['mean_imbalance']:.2f}")


if __name__ == "__main__":
    main()
