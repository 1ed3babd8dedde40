"""neuroperf.JITCompiler from Python: compiled kernels against AOT kernels and numpy, the API's
no-argument calls, the cache, the fallback without a compiler, memory layouts and errors."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import neuroperf as npf


@pytest.fixture(scope="module")
def jit():
    return npf.enable_jit_compilation()


@pytest.fixture(scope="module")
def aot():
    return npf.JITCompiler(npf.JITConfig(enable_jit=False))


def run_steps(kernel, weights, steps, v0, drive_step=None):
    st = kernel.new_state(v0=v0)
    fired = []
    for t in range(steps):
        s = kernel.step(st["v"], st["g_e"], st["g_i"], st["refractory"], st["ring_e"], st["ring_i"], weights, t)
        fired.append(s.copy())
    return st, fired


def test_seed_configuration_example():
    config = npf.JITConfig(enable_jit=True, cache_compiled_functions=True, enable_fastmath=True,
                           enable_parallel_loops=True, verbose=False)
    compiler = npf.JITCompiler(config)
    assert compiler.config is config
    with pytest.raises(npf.TypeError, match="fastmath"):
        npf.JITConfig(fastmath=True)


def test_seed_no_argument_calls(jit):
    k = jit.compile_spike_processing_kernel()
    assert k.num_neurons == 4000 and k.key and "extern" in k.source
    conv = jit.compile_convolution_kernel()
    assert isinstance(conv, npf.LazyConvolutionKernel)
    assert isinstance(jit.compile_reservoir_update_kernel(), npf.LazyReservoirUpdateKernel)
    mm = jit.compile_matrix_multiply_kernel()
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(mm(a, a.T), a @ a.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n, d", [(1, 1), (7, 3), (100, 10), (257, 0)])
def test_reservoir_kernel_bit_identical_to_mkl_step(jit, dtype, sparse, n, d):
    rng = np.random.default_rng(n + d)
    w = sp.random(n, n, density=0.2, format="csr", random_state=n, dtype=np.float64)
    w.data -= 0.5
    w = w.astype(dtype)
    wa = npf.CsrMatrix.from_scipy(w) if sparse else w.toarray()
    win = rng.standard_normal((n, d)).astype(dtype)
    u = rng.standard_normal(d).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    x0 = rng.standard_normal(n).astype(dtype)
    k = jit.compile_reservoir_update_kernel(num_neurons=n, input_dim=d, leak_rate=0.3, sparse=sparse, has_bias=True,
                                            dtype=np.dtype(dtype).name)
    x = x0.copy()
    k(x, win, wa, u, b)
    ref = x0.copy()
    npf.MKLOptimizer(num_threads=1).reservoir_update_inplace(ref, win, wa, u, leak_rate=0.3, bias=b)
    np.testing.assert_array_equal(x, ref)
    with pytest.raises(npf.ShapeError):
        k(np.zeros(n + 1, dtype), win, wa, u, b)


def test_lazy_reservoir_kernel_and_matmul_kernel(jit):
    lazy = jit.compile_reservoir_update_kernel()
    n = 50
    w = np.random.default_rng(0).standard_normal((n, n)) * 0.1
    win = np.ones((n, 2))
    x = np.zeros(n)
    lazy(x, win, w, np.array([0.5, -0.5]), leak_rate=0.5)
    lazy(x, win, w, np.array([0.5, -0.5]), leak_rate=0.5)
    ref = np.zeros(n)
    for _ in range(2):
        ref = 0.5 * ref + 0.5 * np.tanh(win @ np.array([0.5, -0.5]) + w @ ref)
    np.testing.assert_allclose(x, ref, rtol=1e-14, atol=1e-14)
    assert len(lazy._kernels) == 1
    for m, nn, kk in ((1, 1, 1), (3, 5, 7), (64, 64, 64), (100, 3, 70)):
        mk = jit.compile_matrix_multiply_kernel(m, nn, kk, dtype="float32")
        a = np.random.default_rng(m).standard_normal((m, kk)).astype(np.float32)
        b = np.random.default_rng(kk).standard_normal((kk, nn)).astype(np.float32)
        np.testing.assert_allclose(mk(a, b), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4 * kk ** 0.5)
        assert mk.shape == (m, nn, kk) and mk.backend
        with pytest.raises(npf.ShapeError):
            mk(b, a) if (m, kk) != (kk, nn) else mk(a[:, :0], b)


@pytest.mark.parametrize("synapse", ["current", "conductance"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_step_bit_identical_to_aot(jit, aot, synapse, dtype):
    n = 500
    rng = np.random.default_rng(3)
    w = sp.random(n, n, density=0.05, format="csr", random_state=4, dtype=np.float64)
    w.data = np.abs(w.data) * (2.0 if synapse == "current" else 0.05)
    wc = npf.CsrMatrix.from_scipy(w.astype(dtype))
    kw = dict(num_neurons=n, synapse=synapse, dtype=dtype, exc_count=400, i_ext=12.0, max_delay=3, uniform_delay=2)
    kj = jit.compile_spike_processing_kernel(**kw)
    ka = aot.compile_spike_processing_kernel(**kw)
    assert not ka.is_compiled and ka.fallback_reason
    v0 = rng.uniform(-60, -50, n)
    sj, fj = run_steps(kj, wc, 200, v0)
    sa, fa = run_steps(ka, wc, 200, v0)
    assert sum(f.size for f in fj) > 0, "the network must fire for the comparison to mean something"
    for key in sj:
        np.testing.assert_array_equal(sj[key], sa[key])
    for a, b in zip(fj, fa):
        np.testing.assert_array_equal(a, b)


def test_single_neuron_first_spike_matches_analytic_time(jit):
    # dv/dt = (v_rest + i_ext - v)/tau_m from v_rest: v(t) = v_rest + i_ext (1 - exp(-t/tau_m)).
    tau_m, i_ext, v_rest, v_th, dt = 20.0, 15.0, -60.0, -50.0, 0.1
    k = jit.compile_spike_processing_kernel(num_neurons=1, dtype="float64", tau_m=tau_m, i_ext=i_ext, v_rest=v_rest,
                                            v_reset=v_rest, v_thresh=v_th, dt=dt, refractory=2.0)
    t_star = -tau_m * math.log(1 - (v_th - v_rest) / i_ext)
    st, fired = run_steps(k, npf.CsrMatrix((1, 1), [0, 0], np.array([], np.int32), np.array([])), 600, v_rest)
    steps = [t for t, f in enumerate(fired) if f.size]
    assert steps, "the driven neuron must fire"
    assert abs((steps[0] + 1) * dt - t_star) <= dt + 1e-9
    # refractory 2 ms = 20 steps: the second spike comes after refractory + the same rise time
    assert steps[1] - steps[0] >= 20


def test_propagate_writes_the_delayed_slot(jit):
    n, d = 4, 3
    k = jit.compile_spike_processing_kernel(num_neurons=n, dtype="float64", max_delay=d, uniform_delay=2, exc_count=2)
    w = npf.CsrMatrix((n, n), [0, 2, 2, 3, 3], np.array([1, 3, 0], np.int32), np.array([0.5, 0.25, 2.0]))
    ring_e, ring_i = np.zeros((d, n)), np.zeros((d, n))
    k.propagate(np.array([0, 2], np.int32), w, ring_e, ring_i, 5)
    slot = (5 + 2) % d
    np.testing.assert_array_equal(ring_e[slot], [0, 0.5, 0, 0.25])  # source 0 is excitatory
    np.testing.assert_array_equal(ring_i[slot], [2.0, 0, 0, 0])     # source 2 is inhibitory
    assert ring_e.sum() == 0.75 and ring_i.sum() == 2.0


def test_spike_kernel_argument_errors(jit):
    k = jit.compile_spike_processing_kernel(num_neurons=10, dtype="float32")
    st = k.new_state()
    w = npf.CsrMatrix.from_dense(np.zeros((10, 10), np.float32))
    with pytest.raises(npf.ShapeError, match="g_e"):
        k.step(st["v"], st["g_e"][:5], st["g_i"], st["refractory"], st["ring_e"], st["ring_i"], w, 0)
    with pytest.raises(npf.TypeError, match="refractory"):
        k.step(st["v"], st["g_e"], st["g_i"], st["refractory"].astype(np.int64), st["ring_e"], st["ring_i"], w, 0)
    with pytest.raises(npf.TypeError, match="v"):
        k.step(st["v"].astype(np.float64), st["g_e"], st["g_i"], st["refractory"], st["ring_e"], st["ring_i"], w, 0)
    with pytest.raises(npf.ValueError, match="spikes"):
        k.propagate(np.array([11], np.int32), w, st["ring_e"], st["ring_i"], 0)
    with pytest.raises(npf.ValueError, match="tau_m"):
        jit.compile_spike_processing_kernel(num_neurons=10, tau_m=-1.0)
    with pytest.raises(npf.ValueError, match="synapse"):
        jit.compile_spike_processing_kernel(num_neurons=10, synapse="dendritic")


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n, k", [(1, 1), (2, 3), (10, 3), (101, 17), (7, 20)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_convolution_kernel_matches_numpy(jit, mode, n, k, dtype):
    rng = np.random.default_rng(n * 31 + k)
    taps = rng.standard_normal(k).astype(dtype)
    x = rng.standard_normal((3, n)).astype(dtype)
    kern = jit.compile_convolution_kernel(taps, n, mode)
    y = kern(x)
    ref = np.stack([np.convolve(r.astype(np.float64), taps.astype(np.float64), mode) for r in x])
    tol = 1e-5 * k if dtype == np.float32 else 1e-12 * k
    assert y.dtype == dtype and y.shape == ref.shape and kern.output_length == ref.shape[1]
    np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)
    with pytest.raises(npf.ShapeError):
        kern(np.ones(n + 1, dtype))


def test_convolution_kernel_bit_identical_to_aot_and_lazy_reuses(jit, aot):
    taps = np.random.default_rng(1).standard_normal(33)
    x = np.random.default_rng(2).standard_normal(5000)
    a = jit.compile_convolution_kernel(taps, 5000, "same")
    b = aot.compile_convolution_kernel(taps, 5000, "same")
    assert a.is_compiled and not b.is_compiled
    np.testing.assert_array_equal(a(x), b(x))
    lazy = jit.compile_convolution_kernel()
    np.testing.assert_array_equal(lazy(x, taps, "same"), a(x))
    first = lazy._kernels[next(iter(lazy._kernels))]
    lazy(x * 2, taps, "same")
    assert len(lazy._kernels) == 1 and lazy._kernels[next(iter(lazy._kernels))] is first


def test_optimize_memory_layout(jit):
    a = np.random.default_rng(0).standard_normal((70, 33))
    for pattern, check in (("row_major", lambda r: r.flags.c_contiguous),
                           ("column_major", lambda r: r.flags.f_contiguous)):
        r = jit.optimize_memory_layout(a, pattern)
        assert check(r) and r.ctypes.data % 64 == 0
        np.testing.assert_array_equal(r, a)
        assert jit.optimize_memory_layout(r, pattern) is r  # already laid out: no copy
    blocked = jit.optimize_memory_layout(a, "blocked")
    assert blocked.shape == (2 * 1, 4096)
    tile0 = blocked[0].reshape(64, 64)
    np.testing.assert_array_equal(tile0[:64, :33], a[:64, :33])
    assert np.all(tile0[:, 33:] == 0)
    with pytest.raises(npf.ValueError, match="access_pattern"):
        jit.optimize_memory_layout(a, "diagonal")


def run_python(code, env_extra):
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_no_compiler_falls_back_with_one_warning(tmp_path):
    code = ("import neuroperf as npf, json; k = npf.enable_jit_compilation().compile_spike_processing_kernel(100);"
            "print(json.dumps([k.is_compiled, k.fallback_reason]))")
    out = run_python(code, {"NEUROPERF_CXX": "/bin/false", "NEUROPERF_CACHE_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    compiled, reason = json.loads(out.stdout)
    assert not compiled and reason
    assert out.stderr.count("warning") == 1


def test_cache_persists_across_processes_and_clears(tmp_path):
    code = ("import neuroperf as npf, json; k = npf.enable_jit_compilation().compile_convolution_kernel([1.0, 2.0], 10);"
            "print(json.dumps([k.is_compiled, len(npf.jit_cache_entries())]))")
    env = {"NEUROPERF_CACHE_DIR": str(tmp_path)}
    first = run_python(code, env)
    second = run_python(code, env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout) == [True, 1] and json.loads(second.stdout) == [True, 1]
    cleared = run_python("import neuroperf as npf; print(npf.clear_jit_cache(), len(npf.jit_cache_entries()))", env)
    assert cleared.stdout.split() == ["1", "0"]


def test_benchmark_jit_performance(jit):
    rows = jit.benchmark_jit_performance(test_sizes=[100], num_iterations=1)
    assert any(name.startswith("compile/") for name in rows)
    assert all(v > 0 for v in rows.values())


def test_benchmark_jit_progress_calls_per_size_and_part(jit):
    seen = []
    jit.benchmark_jit_performance(test_sizes=[50, 60], num_iterations=1, progress=lambda f, d: seen.append((f, d)))
    assert seen == [(0.25, "compile N=50"), (0.5, "compile N=60"), (0.75, "kernel N=50"), (1.0, "kernel N=60")]
