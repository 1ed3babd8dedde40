"""JIT compilation example (the API's examples/jit_compilation_example.py), on neuroperf.

1. A leaky integrate-and-fire network step compiled for its constants: the Vogels-Abbott CUBA
   network (4,000 neurons, 2% connectivity) simulated for 200 ms (1 s without --quick), the
   compiled kernel against the ahead-of-time one (same spikes, bit for bit).
2. A FIR convolution kernel with its taps baked in, and the API's no-argument form that
   specialises itself per call signature (like a Numba @njit function).
3. Memory layouts for cache-friendly access, and what the compiler cache holds.

    python examples/jit_compilation_example.py [--quick]
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp

import neuroperf as npf


def simulate(kernel, weights, steps, v0):
    st = kernel.new_state(v0=v0)
    count = 0
    t = time.perf_counter()
    for step in range(steps):
        fired = kernel.step(st["v"], st["g_e"], st["g_i"], st["refractory"], st["ring_e"], st["ring_i"], weights, step)
        count += fired.size
    return count, time.perf_counter() - t, st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 ms of network time instead of 1 s")
    args = parser.parse_args()
    config = npf.JITConfig(enable_jit=True, cache_compiled_functions=True, enable_fastmath=False,
                           enable_parallel_loops=False, verbose=False)
    compiler = npf.JITCompiler(config)
    print(f"neuroperf {npf.__version__}: compiler {compiler.compiler_description or 'none (AOT kernels)'}, "
          f"cache {compiler.cache_directory}")

    # 1. CUBA network: 3200 excitatory + 800 inhibitory, p = 0.02, w_e = 1.62 mV, w_i = -9 mV.
    n, n_exc, dt = 4000, 3200, 0.1
    steps = 2000 if args.quick else 10000
    rng = np.random.default_rng(7)
    conn = sp.random(n, n, density=0.02, format="csr", random_state=8, dtype=np.float32)
    conn.data[:] = 1.0
    conn = sp.diags(np.where(np.arange(n) < n_exc, 1.62, -9.0).astype(np.float32)) @ conn  # row = source
    weights = npf.CsrMatrix.from_scipy(conn.tocsr())
    spec = dict(num_neurons=n, synapse="current", dtype="float32", dt=dt, tau_m=20.0, tau_e=5.0, tau_i=10.0,
                v_rest=-49.0, v_reset=-60.0, v_thresh=-50.0, refractory=5.0, exc_count=n_exc)
    t = time.perf_counter()
    kernel = compiler.compile_spike_processing_kernel(**spec)
    t_compile = time.perf_counter() - t
    aot = npf.JITCompiler(enable_jit=False).compile_spike_processing_kernel(**spec)
    v0 = rng.uniform(-60.0, -50.0, n)
    spikes, t_jit, st_jit = simulate(kernel, weights, steps, v0)
    spikes_aot, t_aot, st_aot = simulate(aot, weights, steps, v0)
    rate = spikes / n / (steps * dt / 1000.0)
    print(f"CUBA network, {n} neurons, {weights.nnz} synapses, {steps * dt:.0f} ms: {spikes} spikes "
          f"({rate:.1f} Hz per neuron)")
    print(f"  kernel {'compiled' if kernel.is_compiled else 'AOT'} in {t_compile * 1e3:.0f} ms (cached: "
          f"key {kernel.key[:12]}...); loop {t_jit:.3f} s vs AOT kernel {t_aot:.3f} s")
    same = spikes == spikes_aot and np.array_equal(st_jit["v"], st_aot["v"])
    print(f"  identical to the AOT kernel: {same}")
    assert same

    # 2. Convolution kernels.
    taps = np.exp(-np.arange(50) / 10.0)
    signal = (rng.random((16, 20000)) < 0.05).astype(np.float64)
    fir = compiler.compile_convolution_kernel(taps, signal.shape[1], "same")
    y = fir(signal)
    err = np.max(np.abs(y[0] - np.convolve(signal[0], taps, "same")))
    print(f"FIR kernel ({taps.size} taps baked in, compiled: {fir.is_compiled}): {y.shape}, max error vs "
          f"np.convolve {err:.1e}")
    lazy = compiler.compile_convolution_kernel()  # the API's call: specialises on first use
    np.testing.assert_allclose(lazy(signal, taps, "same"), y)

    # 3. Memory layout and the cache.
    a = rng.standard_normal((1000, 300))
    f = compiler.optimize_memory_layout(a, "column_major")
    b = compiler.optimize_memory_layout(a, "blocked")
    print(f"layouts: column_major F-contiguous {f.flags.f_contiguous}, 64-byte aligned {f.ctypes.data % 64 == 0}; "
          f"blocked {b.shape} (64x64 tiles)")
    entries = npf.jit_cache_entries()
    print(f"cache: {len(entries)} compiled kernels, {sum(e['bytes'] for e in entries) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
