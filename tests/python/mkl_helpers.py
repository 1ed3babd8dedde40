"""Shared by the MKLOptimizer tests (test_mkl_optimization.py, test_mkl_spike_reservoir.py):
hypothesis settings, tolerances and random generators."""
import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, settings

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tol(dtype, k=1):
    """Tolerance for sums of k products in dtype (relative to the magnitudes involved)."""
    eps = np.finfo(dtype).eps
    return 8 * eps * max(1, k) ** 0.5 * 4


def rng(seed=0):
    return np.random.default_rng(seed)


def esn_reference(x, win, w, u, leak, act=np.tanh, bias=0.0):
    return (1 - leak) * x + leak * act(win @ u + w @ x + bias)


def esn_problem(n, d, dens, dtype, seed=0):
    r = rng(seed)
    w = sp.random(n, n, density=dens, format="csr", random_state=seed, dtype=np.float64)
    w.data = (w.data - 0.5).astype(dtype)
    w = w.astype(dtype)
    win = (r.standard_normal((n, d)) * 0.5).astype(dtype)
    x = r.standard_normal(n).astype(dtype) * 0.1
    u = r.standard_normal(d).astype(dtype)
    return x, win, w, u
