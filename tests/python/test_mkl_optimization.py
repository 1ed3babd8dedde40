"""neuroperf.MKLOptimizer from Python against numpy/scipy references: every call, dtypes,
layouts, edge sizes, errors, zero-copy, the GIL and reference counts."""
import gc
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import neuroperf as npf
from mkl_helpers import SETTINGS, esn_problem, rng, tol  # noqa: E402


@pytest.fixture(scope="module")
def opt():
    return npf.enable_mkl_optimization()


# --- configuration ----------------------------------------------------------------------------

def test_config_defaults_and_repr():
    c = npf.MKLConfig()
    assert c.num_threads is None and c.thread_affinity == "balanced" and c.enable_fast_math is True
    assert c.precision_mode == "high" and c.verbose is False and c.backend == "auto"
    assert "MKLConfig(" in repr(c)
    assert npf.MKLConfig(num_threads=2) == npf.MKLConfig(num_threads=2)


def test_seed_configuration_example_works():
    config = npf.MKLConfig(num_threads=8, thread_affinity="balanced", enable_fast_math=True,
                           precision_mode="high", verbose=False)
    optimizer = npf.MKLOptimizer(config)
    assert optimizer.config is config
    assert optimizer.num_threads == 8


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"bogus": 1}, npf.TypeError, "bogus"),
    ({"num_threads": "4"}, npf.TypeError, "num_threads"),
    ({"num_threads": True}, npf.TypeError, "num_threads"),
    ({"num_threads": -1}, npf.ValueError, "num_threads"),
    ({"precision_mode": "medium"}, npf.ValueError, "precision_mode"),
    ({"thread_affinity": "random"}, npf.ValueError, "thread_affinity"),
    ({"backend": "cuda"}, npf.Error, "cuda"),
])
def test_bad_config_raises_named_errors(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        npf.MKLConfig(**kwargs)


def test_errors_are_builtin_subclasses():
    assert issubclass(npf.ValueError, ValueError) and issubclass(npf.ValueError, npf.Error)
    assert issubclass(npf.ShapeError, ValueError) and issubclass(npf.TypeError, TypeError)
    assert issubclass(npf.NotBuiltError, NotImplementedError)


def test_config_setattr_validates():
    c = npf.MKLConfig()
    with pytest.raises(npf.ValueError):
        c.precision_mode = "x"
    assert c.precision_mode == "high"
    c.precision_mode = "low"
    assert c.precision_mode == "low"


# --- matrix multiply --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", [(0, 3, 2), (1, 1, 1), (2, 3, 5), (3, 0, 4), (7, 13, 11), (64, 33, 17),
                                   (257, 129, 65)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_matmul_matches_numpy(opt, dtype, m, n, k, ta, tb):
    r = rng(m * 100 + n * 10 + k)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    c = opt.optimize_matrix_multiply(a, b, transpose_a=ta, transpose_b=tb)
    ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    assert c.dtype == dtype and c.shape == (m, n)
    np.testing.assert_allclose(c, ref, rtol=tol(dtype, k), atol=tol(dtype, k) * max(1, k) ** 0.5)


@SETTINGS
@given(m=st.integers(0, 40), n=st.integers(0, 40), k=st.integers(0, 40),
       dtype=st.sampled_from([np.float32, np.float64]),
       layout=st.sampled_from(["C", "F", "strided", "negative"]))
def test_matmul_any_layout(opt, m, n, k, dtype, layout):
    r = rng(m + 41 * n + 1681 * k)

    def make(shape):
        x = r.standard_normal((shape[0] * 2, shape[1] * 2)).astype(dtype)
        if layout == "C":
            return np.ascontiguousarray(x[:shape[0], :shape[1]])
        if layout == "F":
            return np.asfortranarray(x[:shape[0], :shape[1]])
        if layout == "strided":
            return x[::2, ::2]
        return x[::-2, ::-2]

    a, b = make((m, k)), make((k, n))
    c = opt.optimize_matrix_multiply(a, b)
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=tol(dtype, k), atol=tol(dtype, k) * max(1, k))


def test_matmul_nan_inf_propagate_like_numpy(opt):
    a = np.ones((3, 3))
    a[0, 0] = np.nan
    a[1, 1] = np.inf
    c = opt.optimize_matrix_multiply(a, np.eye(3))
    with np.errstate(invalid="ignore"):
        ref = a @ np.eye(3)
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(ref))


def test_matmul_dtype_promotion_and_array_likes(opt):
    a32 = np.ones((2, 2), np.float32)
    assert opt.optimize_matrix_multiply(a32, np.ones((2, 2))).dtype == np.float64
    assert opt.optimize_matrix_multiply(a32, np.ones((2, 2), np.int32)).dtype == np.float32
    c = opt.optimize_matrix_multiply([[1, 2], [3, 4]], [[1, 0], [0, 1]])
    assert c.dtype == np.float64
    np.testing.assert_array_equal(c, [[1, 2], [3, 4]])

    class ArrayLike:
        def __array__(self, dtype=None, copy=None):
            return np.eye(2)

    np.testing.assert_array_equal(opt.optimize_matrix_multiply(ArrayLike(), ArrayLike()), np.eye(2))


def test_matmul_accepts_dlpack_objects(opt):
    class OnlyDLPack:  # exposes nothing but the DLPack protocol
        def __init__(self, a):
            self._a = a

        def __dlpack__(self, **kw):
            return self._a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self._a.__dlpack_device__()

    a = rng().standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(opt.optimize_matrix_multiply(OnlyDLPack(a), OnlyDLPack(a.T.copy())), a @ a.T,
                               rtol=1e-5)


def test_seed_quick_start_with_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    key = jax.random.PRNGKey(0)
    a = jax.random.normal(key, (100, 100))
    b = jax.random.normal(key, (100, 100))
    mkl_optimizer = npf.enable_mkl_optimization()
    result = mkl_optimizer.optimize_matrix_multiply(a, b)
    np.testing.assert_allclose(result, np.asarray(jnp.matmul(a, b, precision="highest")), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("a, b, exc, words", [
    (np.ones((2, 3)), np.ones((2, 3)), npf.ShapeError, "b"),
    (np.ones(3), np.ones((3, 3)), npf.ShapeError, "a"),
    (np.ones((2, 2), complex), np.ones((2, 2)), npf.TypeError, "complex128"),
    (np.array([[object()]]), np.ones((1, 1)), npf.TypeError, "object"),
    (np.array([["x"]]), np.ones((1, 1)), npf.TypeError, "a"),
    (None, np.ones((1, 1)), TypeError, "a"),
    (np.ones((1, 1, 1, 1, 1)), np.ones((1, 1)), npf.ShapeError, "rank"),
])
def test_matmul_bad_inputs(opt, a, b, exc, words):
    with pytest.raises(exc, match=words):
        opt.optimize_matrix_multiply(a, b)


def test_output_owns_the_cpp_buffer_without_copy(opt):
    y = opt.vector_tanh(np.ones((4, 4)))
    assert not y.flags.owndata and type(y.base).__name__ == "PyCapsule"
    assert y.flags.writeable and y.flags.c_contiguous
    assert y.ctypes.data % 64 == 0  # neuroperf's 64-byte aligned buffer, handed over


def test_matmul_result_is_numpy_allocated(opt):
    # A product is written straight into a NumPy-allocated array (cheaper than handing over a
    # buffer at small sizes): an ordinary array that owns its data.
    c = opt.optimize_matrix_multiply(np.ones((4, 4), np.float32), np.ones((4, 4), np.float32))
    assert c.flags.owndata and c.base is None and c.flags.writeable and c.flags.c_contiguous


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,k", [(0, 3, 2), (1, 1, 1), (3, 4, 0), (7, 13, 11), (32, 32, 32)])
@pytest.mark.parametrize("out_layout", ["C", "F", "strided"])
def test_matmul_out_written_in_place(opt, dtype, m, n, k, out_layout):
    r = rng(m + 7 * n + 49 * k)
    a = r.standard_normal((m, k)).astype(dtype)
    b = r.standard_normal((k, n)).astype(dtype)
    base = np.full((2 * m + 1, 2 * n + 1), np.nan, dtype)
    out = {"C": base[:m, :n].copy(), "F": np.asfortranarray(base[:m, :n]), "strided": base[1::2, 1::2]}[out_layout]
    assert out.shape == (m, n)
    got = opt.optimize_matrix_multiply(a, b, out=out)
    assert got is out
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=tol(dtype, k), atol=tol(dtype, k) * max(1, k))
    if out_layout == "strided":  # the gaps between the strided elements are untouched
        assert np.isnan(base[0::2, :]).all() and np.isnan(base[:, 0::2]).all()


def test_matmul_out_errors(opt):
    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    with pytest.raises(npf.ShapeError, match="out: expected shape \\(3, 5\\)"):
        opt.optimize_matrix_multiply(a, b, out=np.empty((5, 3), np.float32))
    with pytest.raises(npf.TypeError, match="out"):
        opt.optimize_matrix_multiply(a, b, out=np.empty((3, 5), np.float64))  # not converted
    with pytest.raises(npf.TypeError, match="out"):
        opt.optimize_matrix_multiply(a, b, out=[[0.0] * 5] * 3)
    ro = np.empty((3, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(npf.ValueError, match="out"):
        opt.optimize_matrix_multiply(a, b, out=ro)
    sq = np.ones((4, 4), np.float32)
    with pytest.raises(npf.ValueError, match="overlap"):
        opt.optimize_matrix_multiply(sq, sq, out=sq)


# --- elementwise ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, rtol32, rtol64", [("high", 2e-7, 1e-15), ("low", 5e-7, 1e-13), ("ep", 1e-3, 1e-7)])
def test_vector_tanh_exp_precision_modes(mode, rtol32, rtol64):
    o = npf.MKLOptimizer(precision_mode=mode)
    x = np.linspace(-20, 20, 1001)
    for dt, rt in ((np.float32, rtol32), (np.float64, rtol64)):
        xs = x.astype(dt)
        np.testing.assert_allclose(o.vector_tanh(xs), np.tanh(xs.astype(np.float64)), rtol=rt * 4, atol=rt)
        np.testing.assert_allclose(o.vector_exp(xs), np.exp(xs.astype(np.float64)), rtol=rt * 4)


# --- batch, eigen, spectral radius --------------------------------------------------------------

@pytest.mark.parametrize("b, n, m, density", [(1, 1, 1, 1.0), (3, 17, 5, 0.3), (64, 200, 33, 0.02),
                                              (8, 100, 50, 0.0), (2, 50, 7, 1.0)])
def test_batch_processing_matches_numpy(opt, b, n, m, density):
    r = rng(b + n + m)
    spikes = r.random((b, n)) < density
    wm = r.standard_normal((n, m)).astype(np.float32)
    y = opt.optimize_batch_processing(spikes, wm)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, spikes.astype(np.float64) @ wm, rtol=1e-5, atol=1e-5 * n ** 0.5)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 31])
@pytest.mark.parametrize("symmetric", [False, True])
def test_eigenvalues_match_scipy(opt, n, symmetric):
    a = rng(n).standard_normal((n, n))
    if symmetric:
        a = a + a.T
    w = opt.optimize_eigenvalue_computation(a)
    ref = scipy.linalg.eigvals(a)
    key = lambda z: (np.round(z.real, 8), np.round(z.imag, 8))  # noqa: E731
    np.testing.assert_allclose(sorted(w, key=key), sorted(ref, key=key), rtol=1e-9, atol=1e-9)
    if symmetric:
        assert w.dtype == np.float64
    w2, v = opt.optimize_eigenvalue_computation(a, compute_eigenvectors=True)
    np.testing.assert_allclose(a @ v, v * w2, atol=1e-8 * n)


def test_defective_matrix_eigenvalues(opt):
    a = np.array([[2.0, 1.0], [0.0, 2.0]])  # one eigenvector for a double eigenvalue
    np.testing.assert_allclose(opt.optimize_eigenvalue_computation(a), [2.0, 2.0])


def test_spectral_radius_dense_and_sparse(opt):
    w = sp.random(300, 300, density=0.05, format="csr", random_state=7)
    w.data -= 0.5
    ref = np.max(np.abs(scipy.linalg.eigvals(w.toarray())))
    for m in (w, w.toarray(), npf.CsrMatrix.from_scipy(w)):
        r = npf.spectral_radius(m)
        assert isinstance(r, npf.SpectralRadius)
        assert abs(float(r) - ref) <= 1e-6 * ref and r.method and r.verification
    with pytest.raises(npf.ShapeError):
        opt.spectral_radius(np.ones((2, 3)))


def test_scale_to_spectral_radius_in_place():
    w = rng(9).standard_normal((50, 50))
    before = npf.scale_to_spectral_radius(w, 0.9)
    assert before.value > 0
    assert abs(np.max(np.abs(np.linalg.eigvals(w))) - 0.9) < 1e-6
    c = npf.CsrMatrix.from_dense(rng(10).standard_normal((30, 30)) * (rng(11).random((30, 30)) < 0.2))
    npf.scale_to_spectral_radius(c, 1.1)
    assert abs(float(npf.spectral_radius(c)) - 1.1) < 1e-6
    with pytest.raises(npf.ValueError, match="rho"):
        npf.scale_to_spectral_radius(w, -1.0)


def test_benchmark_performance_report(tmp_path, opt):
    path = tmp_path / "mkl.json"
    rep = opt.benchmark_performance(matrix_sizes=[8, 16], num_iterations=2, output_path=path)
    assert path.exists() and json.loads(path.read_text())["benchmarks"]
    assert rep["average_speedup"] > 0 and rep["max_speedup"] >= rep["average_speedup"] * (1 - 1e-12)
    assert {(e["operation"], e["size"]) for e in rep["entries"]} == {(op, n) for op in ("sgemm", "dgemm") for n in (8, 16)}
    for e in rep["entries"]:
        assert e["speedup"] == pytest.approx(e["baseline_seconds"] / e["optimized_seconds"])


# --- GIL, reference counts, CLI ------------------------------------------------------------------

def test_gil_is_released_during_kernels(opt):
    a = rng().standard_normal((1200, 1200))
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.01)
    start = time.perf_counter()
    for _ in range(3):
        opt.optimize_matrix_multiply(a, a)
    end = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if start < x < end]
    # With the GIL held the ticker could not run at all while the products are computed.
    assert len(during) >= max(2, int((end - start) / 0.001) // 10)


def test_no_reference_leaks_over_many_calls(opt):
    a = np.ones((4, 4), np.float32)
    x, win, w, u = esn_problem(20, 2, 0.2, np.float64)
    wc = npf.CsrMatrix.from_scipy(w)
    before = [sys.getrefcount(o) for o in (a, x, win, wc, u)]
    gc.collect()
    objects = len(gc.get_objects())
    for _ in range(10_000):
        opt.optimize_matrix_multiply(a, a)
        opt.optimize_reservoir_update(x, win, wc, u)
    gc.collect()
    assert [sys.getrefcount(o) for o in (a, x, win, wc, u)] == before
    assert len(gc.get_objects()) - objects < 100


def test_python_m_neuroperf_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "neuroperf", "--version"], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.startswith("neuroperf ") and npf.__version__ in out.stdout


def test_backends_listed():
    names = {b["name"] for b in npf.backends()}
    assert {"builtin", "openblas"} <= names


def test_large_results_reuse_the_buffer_cache(opt):
    # A freed 8 MB result is kept for the next one of a similar size; free_cached_buffers empties
    # the cache. The reused block is overwritten completely (the result equals numpy's).
    npf.free_cached_buffers()
    x = (np.random.default_rng(3).random((200, 5000)) < 0.05).astype(np.float64)
    y = opt.optimize_spike_convolution(x, npf.ExponentialKernel(tau=5.0, dt=1.0), mode="same")
    first = y.__array_interface__["data"][0]
    del y
    gc.collect()
    if npf.cached_buffer_bytes() == 0:
        pytest.skip("buffer cache disabled (NEUROPERF_BUFFER_CACHE_MB=0 or a sanitizer build)")
    taps = np.exp(-np.arange(npf.ExponentialKernel(tau=5.0, dt=1.0).length or 200) / 5.0)
    y2 = opt.optimize_spike_convolution(x, taps[:50], mode="same")
    assert y2.__array_interface__["data"][0] == first
    ref = np.stack([np.convolve(r, taps[:50], mode="same") for r in x])
    np.testing.assert_allclose(y2, ref, rtol=1e-12, atol=1e-12)
    del y2
    gc.collect()
    assert npf.free_cached_buffers() >= 8_000_000
    assert npf.cached_buffer_bytes() == 0


def test_benchmark_progress_callable_bar_and_errors(opt, capfd):
    seen = []
    rep = opt.benchmark_performance(matrix_sizes=[8, 5], num_iterations=1, progress=lambda f, d: seen.append((f, d)))
    assert seen == [(0.25, "sgemm n=8"), (0.5, "dgemm n=8"), (0.75, "sgemm n=5"), (1.0, "dgemm n=5")]
    assert len(rep["entries"]) == 4
    opt.benchmark_performance(matrix_sizes=[4], num_iterations=1, progress=True)
    out, err = capfd.readouterr()  # not a terminal: one line per row
    assert out == "" and err.splitlines() == ["benchmark_performance  sgemm n=4", "benchmark_performance  dgemm n=4"]

    class Stop(Exception):
        pass

    def stop(f, d):
        raise Stop(d)

    with pytest.raises(Stop, match="sgemm n=4"):
        opt.benchmark_performance(matrix_sizes=[4, 6], num_iterations=1, progress=stop)
    with pytest.raises(npf.TypeError, match=r"benchmark_performance: expected True, False, None or a callable"):
        opt.benchmark_performance(matrix_sizes=[4], num_iterations=1, progress="yes")
