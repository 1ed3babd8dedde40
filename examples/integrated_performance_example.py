"""Integrated example (the API's examples/integrated_performance_example.py): all three
components on one liquid-state-machine pipeline.

  JIT      a spiking "liquid" of leaky integrate-and-fire neurons driven by an input signal,
           simulated with the compiled population step;
  MKL      its spike trains filtered by an exponential synaptic kernel (spike convolution);
  Parallel K echo-state readout reservoirs, one per feature band, run side by side, and a
           ridge readout per reservoir fitted with the optimized matrix products.

The task: reconstruct the (delayed) input signal from the liquid's activity. Prints the timing
of each stage and the reconstruction error.

    python examples/integrated_performance_example.py [--quick]
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp

import neuroperf as npf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run (a few seconds)")
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    mkl = npf.enable_mkl_optimization()
    par = npf.enable_parallel_processing()
    jit = npf.enable_jit_compilation()
    n, n_exc, dt = (1000, 800, 0.5) if args.quick else (4000, 3200, 0.5)
    steps = 2000 if args.quick else 8000
    print(f"neuroperf {npf.__version__}: {mkl.num_threads} threads, compiler "
          f"{jit.compiler_description or 'none (AOT kernels)'}")

    # --- JIT: the liquid ------------------------------------------------------------------------
    t0 = time.perf_counter()
    kernel = jit.compile_spike_processing_kernel(num_neurons=n, synapse="current", dt=dt, v_rest=-60.0,
                                                 v_reset=-60.0, v_thresh=-50.0, exc_count=n_exc, refractory=2.0)
    conn = sp.random(n, n, density=20 / n, format="csr", random_state=12, dtype=np.float32)
    conn.data[:] = 1.0
    conn = (sp.diags(np.where(np.arange(n) < n_exc, 0.8, -3.0).astype(np.float32)) @ conn).tocsr()
    weights = npf.CsrMatrix.from_scipy(conn)
    signal = np.sin(np.arange(steps) * dt / 40.0) + 0.5 * np.sin(np.arange(steps) * dt / 13.0)
    gain = rng.uniform(0.0, 2.0, n).astype(np.float32)
    st = kernel.new_state(v0=rng.uniform(-60, -50, n))
    spikes = np.zeros((n, steps), dtype=bool)
    for t in range(steps):
        st["v"] += gain * (1.0 + signal[t]) * 0.6  # input current for this step (mV)
        fired = kernel.step(st["v"], st["g_e"], st["g_i"], st["refractory"], st["ring_e"], st["ring_i"], weights, t)
        spikes[fired, t] = True
    t_liquid = time.perf_counter() - t0
    rate = spikes.sum() / n / (steps * dt / 1000)
    print(f"liquid: {n} LIF neurons, {weights.nnz} synapses, {steps * dt:.0f} ms in {t_liquid:.2f} s, "
          f"{rate:.1f} Hz, kernel compiled: {kernel.is_compiled}")

    # --- MKL: synaptic filtering -----------------------------------------------------------------
    t0 = time.perf_counter()
    traces = mkl.optimize_spike_convolution(spikes, npf.ExponentialKernel(10.0, dt), mode="full")[:, :steps]
    t_conv = time.perf_counter() - t0
    print(f"synaptic traces: {traces.shape} in {t_conv * 1e3:.1f} ms")

    # --- Parallel: K readout reservoirs on feature bands ----------------------------------------
    k, res_n = 4, (200 if args.quick else 500)
    bands = np.array_split(np.arange(n), k)
    inputs = [np.ascontiguousarray(traces[b].T) for b in bands]  # time x band neurons
    ws, wins = [], []
    for i, b in enumerate(bands):
        w = npf.CsrMatrix.from_scipy(sp.random(res_n, res_n, density=0.05, format="csr", random_state=20 + i))
        npf.scale_to_spectral_radius(w, 0.9)
        ws.append(w)
        wins.append(rng.standard_normal((res_n, b.size)) * (0.5 / np.sqrt(b.size)))
    t0 = time.perf_counter()
    states = par.parallel_reservoir_computation([np.zeros(res_n)] * k, wins, ws, inputs, leak_rate=0.3)
    t_res = time.perf_counter() - t0
    print(f"readout reservoirs: {k} x N={res_n} in parallel in {t_res * 1e3:.1f} ms")

    # Ridge readout on all reservoir states: predict the input signal delayed by 20 steps.
    delay, warm = 20, 200
    x = np.hstack(states + [np.ones((steps, 1))])[warm:]  # a constant column for the offset
    y = np.roll(signal, delay)[warm:]
    half = x.shape[0] // 2
    gram = mkl.optimize_matrix_multiply(x[:half], x[:half], transpose_a=True) + 1e-1 * half * np.eye(x.shape[1])
    w_out = np.linalg.solve(gram, mkl.optimize_matrix_multiply(x[:half], y[:half, None], transpose_a=True))
    pred = mkl.optimize_matrix_multiply(x[half:], w_out)[:, 0]
    nrmse = np.sqrt(np.mean((pred - y[half:]) ** 2)) / np.std(y[half:])
    print(f"reconstruction of the input {delay * dt:.0f} ms back, held-out NRMSE {nrmse:.3f}")
    stats = par.get_performance_stats()
    print(f"parallel stats: {stats['calls']} call(s), speed-up {stats['speedup']:.2f}x")


if __name__ == "__main__":
    main()
