"""MKLOptimizer from Python, spike and reservoir operations: convolution against numpy (modes,
axes, spike dtypes, kernel families, hypothesis properties, non-contiguous and byte trains) and
reservoir updates against scipy (activations, bias, in place, sequences, errors, CSR matrices)."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import neuroperf as npf
from mkl_helpers import SETTINGS, esn_problem, esn_reference, rng, tol  # noqa: E402


@pytest.fixture(scope="module")
def opt():
    return npf.enable_mkl_optimization()


# --- spike convolution ------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("t, k", [(1, 1), (2, 3), (3, 2), (17, 5), (5, 17), (101, 1), (97, 31), (1000, 200)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_convolution_matches_numpy(opt, mode, t, k, dtype):
    r = rng(t * 7 + k)
    train = (r.random(t) < 0.2).astype(dtype)
    kernel = r.standard_normal(k).astype(dtype)
    y = opt.optimize_spike_convolution(train, kernel, mode)
    ref = np.convolve(train.astype(np.float64), kernel.astype(np.float64), mode)
    assert y.shape == ref.shape and y.dtype == dtype
    np.testing.assert_allclose(y, ref, rtol=tol(dtype, k), atol=tol(dtype, k) * k)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("spikes_dtype", [bool, np.uint8, np.float32])
def test_convolution_2d_axes_and_spike_dtypes(opt, axis, spikes_dtype):
    r = rng(3)
    trains = r.random((6, 50)) < 0.1
    if axis == 0:
        trains = trains.T
    kernel = r.standard_normal(9).astype(np.float32)
    y = opt.optimize_spike_convolution(trains.astype(spikes_dtype), kernel, "same", axis=axis)
    chan = trains.T if axis == 0 else trains
    ref = np.stack([np.convolve(c.astype(np.float64), kernel, "same") for c in chan])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.T if axis == 0 else y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family, fn", [(npf.ExponentialKernel, lambda t, tau: np.exp(-t / tau)),
                                        (npf.AlphaKernel, lambda t, tau: (t / tau) * np.exp(1 - t / tau))])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolution_kernel_families(opt, family, fn, mode):
    r = rng(5)
    train = (r.random((3, 400)) < 0.05).astype(np.float64)
    kern = family(5.0, 0.5, 60)
    assert kern.length == 60 and kern.tau == 5.0 and "Kernel" in repr(kern)
    taps = fn(np.arange(60) * 0.5, 5.0)
    y = opt.optimize_spike_convolution(train, kern, mode)
    ref = np.stack([np.convolve(c, taps, mode) for c in train])
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(n=st.integers(1, 300), k=st.integers(1, 80), channels=st.integers(1, 4),
       mode=st.sampled_from(["full", "same", "valid"]), dtype=st.sampled_from([np.float32, np.float64]),
       density=st.sampled_from([0.0, 0.01, 0.3, 1.0]), time_major=st.booleans())
def test_convolution_property(opt, n, k, channels, mode, dtype, density, time_major):
    r = rng(n * 1000 + k * 10 + channels)
    trains = np.where(r.random((channels, n)) < density, r.standard_normal((channels, n)), 0).astype(dtype)
    kernel = r.standard_normal(k).astype(dtype)
    data = np.asfortranarray(trains.T) if time_major else trains
    y = opt.optimize_spike_convolution(data, kernel, mode, axis=0 if time_major else -1)
    ref = np.stack([np.convolve(c.astype(np.float64), kernel.astype(np.float64), mode) for c in trains])
    got = y.T if time_major else y
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=tol(dtype, k) * 4, atol=tol(dtype, k) * 4 * max(1, k))


def test_convolution_non_contiguous_trains(opt):
    base = (rng(8).random((4, 300)) < 0.1).astype(np.float64)
    view = base[::2, ::3]
    kernel = np.array([0.5, 1.0, -0.25])
    y = opt.optimize_spike_convolution(view, kernel, "full")
    ref = np.stack([np.convolve(c, kernel, "full") for c in view])
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_convolution_bad_mode_and_axis(opt):
    with pytest.raises(npf.ValueError, match="full.*same.*valid"):
        opt.optimize_spike_convolution(np.ones(5), np.ones(2), "middle")
    with pytest.raises(npf.ValueError, match="axis"):
        opt.optimize_spike_convolution(np.ones((2, 5)), np.ones(2), "full", axis=2)


# --- reservoir --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, d", [(1, 1), (2, 3), (13, 1), (97, 5), (500, 20)])
@pytest.mark.parametrize("weights", ["dense", "scipy", "csr"])
def test_reservoir_update_matches_scipy(opt, dtype, n, d, weights):
    x, win, w, u = esn_problem(n, d, 0.1, dtype, seed=n)
    wa = {"dense": w.toarray(), "scipy": w, "csr": npf.CsrMatrix.from_scipy(w)}[weights]
    y = opt.optimize_reservoir_update(x, win, wa, u, leak_rate=0.3)
    ref = esn_reference(x.astype(np.float64), win.astype(np.float64), w.astype(np.float64), u.astype(np.float64), 0.3)
    assert y.dtype == dtype and y.shape == (n,)
    np.testing.assert_allclose(y, ref, rtol=tol(dtype, n) * 4, atol=tol(dtype, n) * 4)


@pytest.mark.parametrize("activation, fn", [("tanh", np.tanh), ("identity", lambda v: v),
                                            ("relu", lambda v: np.maximum(v, 0)),
                                            ("sigmoid", lambda v: 1 / (1 + np.exp(-v)))])
def test_reservoir_activations_and_bias(opt, activation, fn):
    x, win, w, u = esn_problem(40, 3, 0.2, np.float64, seed=1)
    b = rng(2).standard_normal(40)
    y = opt.optimize_reservoir_update(x, win, w, u, leak_rate=0.7, activation=activation, bias=b)
    np.testing.assert_allclose(y, esn_reference(x, win, w.toarray(), u, 0.7, fn, b), rtol=1e-12, atol=1e-12)


def test_reservoir_update_inplace_writes_into_a_view(opt):
    x, win, w, u = esn_problem(30, 2, 0.2, np.float64, seed=3)
    big = np.zeros(60)
    view = big[::2]
    view[:] = x
    opt.reservoir_update_inplace(view, win, w, u, leak_rate=0.5)
    np.testing.assert_allclose(big[::2], esn_reference(x, win, w.toarray(), u, 0.5), rtol=1e-12, atol=1e-12)
    assert np.all(big[1::2] == 0)
    with pytest.raises(npf.TypeError, match="reservoir_state"):
        opt.reservoir_update_inplace(view.astype(np.float32), win, w, u)
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(npf.ValueError, match="writable"):
        opt.reservoir_update_inplace(ro, win, w, u)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_run_reservoir_matches_step_loop(opt, dtype):
    x, win, w, _ = esn_problem(200, 4, 0.05, dtype, seed=4)
    inputs = rng(5).standard_normal((50, 4)).astype(dtype)
    states = opt.run_reservoir(np.zeros(200, dtype), win, w, inputs, leak_rate=0.4)
    ref, s = [], np.zeros(200)
    for t in range(50):
        s = esn_reference(s, win.astype(np.float64), w.astype(np.float64), inputs[t].astype(np.float64), 0.4)
        ref.append(s)
    assert states.shape == (50, 200) and states.dtype == dtype
    np.testing.assert_allclose(states, np.array(ref), rtol=tol(dtype, 200) * 50, atol=tol(dtype, 200) * 50)


def test_reservoir_errors(opt):
    x, win, w, u = esn_problem(10, 2, 0.3, np.float64)
    with pytest.raises(npf.ShapeError, match="input_weights"):
        opt.optimize_reservoir_update(x, win[:5], w, u)
    with pytest.raises(npf.ValueError, match="activation"):
        opt.optimize_reservoir_update(x, win, w, u, activation="softmax")
    with pytest.raises(npf.ValueError, match="leak"):
        opt.optimize_reservoir_update(x, win, w, u, leak_rate=1.5)
    bad = w.toarray()
    bad[0, 0] = np.nan
    with pytest.raises(npf.ValueError):
        opt.optimize_reservoir_update(x, win, bad, u, check_finite=True)


def test_csr_matrix_roundtrip_and_validation():
    w = sp.random(20, 30, density=0.2, format="csr", random_state=1)
    c = npf.CsrMatrix.from_scipy(w)
    assert c.shape == (20, 30) and c.nnz == w.nnz and c.dtype == np.float64
    np.testing.assert_array_equal(c.to_dense(), w.toarray())
    np.testing.assert_array_equal(c.indptr, w.indptr)
    np.testing.assert_array_equal(c.indices, w.indices)
    c2 = npf.CsrMatrix((20, 30), c.indptr, c.indices, c.data)
    np.testing.assert_array_equal(c2.to_dense(), w.toarray())
    coo = sp.coo_matrix(([1.0, 2.0, 3.0], ([0, 0, 1], [2, 2, 0])), shape=(2, 3))  # duplicate entry
    np.testing.assert_array_equal(npf.CsrMatrix.from_scipy(coo).to_dense(), coo.toarray())
    with pytest.raises(npf.ValueError, match="indices"):
        npf.CsrMatrix((2, 2), np.array([0, 1, 2]), np.array([0, 5]), np.array([1.0, 2.0]))
    with pytest.raises(npf.TypeError, match="integer"):
        npf.CsrMatrix((2, 2), np.array([0, 1, 2.0]), np.array([0, 1]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_byte_spike_trains_are_read_in_place(opt, dtype, mode):
    # bool/uint8 trains go to the byte kernels without a float copy and give numpy's result;
    # they do not vote on the dtype (float64 with a family, the taps' dtype with taps).
    rng = np.random.default_rng(11)
    x = (rng.random((5, 2 * 301)) < 0.1)
    if dtype is np.uint8:
        x = x.astype(np.uint8) * rng.integers(1, 4, size=x.shape).astype(np.uint8)
    xs = x[:, ::2]  # strided view
    taps32 = rng.standard_normal(7).astype(np.float32)
    y = opt.optimize_spike_convolution(xs, taps32, mode=mode)
    assert y.dtype == np.float32
    ref = np.stack([np.convolve(r.astype(np.float64), taps32.astype(np.float64), mode=mode) for r in xs])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    fam = npf.ExponentialKernel(tau=4.0, dt=1.0)
    yf = opt.optimize_spike_convolution(xs, fam, mode=mode)
    assert yf.dtype == np.float64
    yref = opt.optimize_spike_convolution(np.ascontiguousarray(xs, dtype=np.float64), fam, mode=mode)
    np.testing.assert_allclose(yf, yref, rtol=1e-12, atol=1e-12)
    yt = opt.optimize_spike_convolution(xs.T, taps32, mode=mode, axis=0)
    np.testing.assert_allclose(yt.T, y, rtol=0, atol=0)

