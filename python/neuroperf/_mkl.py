"""The MKL optimizer component: BLAS-backed spike and reservoir operations (see
docs/guide/python.md)."""

from __future__ import annotations

import os

import numpy as np

from . import _core
from ._config import _Config, resolve_config


class MKLConfig(_Config):
    """The optimizer's configuration (MKLConfig).

    num_threads: threads for the BLAS and the kernels (None = CPUs available to the process,
        honouring OMP_NUM_THREADS); thread_affinity: "balanced" | "compact" | "scatter" | "none";
    enable_fast_math: flush denormals to zero during calls; precision_mode: "high" | "low" | "ep"
        (accuracy of tanh/exp/sigmoid); verbose: log choices and timings to stderr;
    backend: "auto" or one of neuroperf.backends()' names.
    """

    _fields = {
        "num_threads": (None, (int,), "threads (None = auto)"),
        "thread_affinity": ("balanced", (str,), "balanced | compact | scatter | none"),
        "enable_fast_math": (True, (bool,), "flush denormals to zero"),
        "precision_mode": ("high", (str,), "high | low | ep"),
        "verbose": (False, (bool,), "log to stderr"),
        "backend": ("auto", (str,), "auto or a backend name"),
    }

    def validate(self) -> None:
        _core._MKLOptimizer(**self._core_kwargs())

    def _core_kwargs(self) -> dict:
        d = self.to_dict()
        if d["num_threads"] is None:
            d["num_threads"] = 0
        elif d["num_threads"] < 1:
            raise _core.ValueError(f"MKLConfig.num_threads: expected None or an integer >= 1, "
                                   f"got {d['num_threads']}")
        return d


class MKLOptimizer(_core._MKLOptimizer):
    """MKLOptimizer. Every method takes NumPy arrays (float32/float64, any strides,
    views without copies), objects with __dlpack__ (JAX, PyTorch) or array-likes, and returns
    NumPy arrays that own their C++ buffer (no copy; optimize_matrix_multiply writes into a NumPy
    array, or into out=). The GIL is released while kernels run.
    Mixed dtypes compute in float64; bool/integer arrays (spike trains) are converted.
    """

    def __init__(self, config: MKLConfig | None = None, **kwargs):
        config = resolve_config("MKLOptimizer", MKLConfig, config, kwargs)
        super().__init__(**config._core_kwargs())
        self._config = config

    @property
    def config(self) -> MKLConfig:
        return self._config

    def optimize_eigenvalue_computation(self, matrix, compute_eigenvectors: bool = False):
        """Eigenvalues of a square matrix (LAPACK geev, or syevd when symmetric), as
        numpy.linalg.eig: a float64 array when all eigenvalues are real, else complex128; with
        compute_eigenvectors, (eigenvalues, eigenvectors) with eigenvector j in column j."""
        wr, wi, vr, vi, _symmetric, _method = self._eigen(matrix, compute_eigenvectors)
        real = not np.any(wi)
        w = wr if real else wr + 1j * wi
        if not compute_eigenvectors:
            return w
        v = vr if real else vr + 1j * vi
        return w, v

    def benchmark_performance(self, matrix_sizes=(100, 500, 1000, 2000), num_iterations: int = 10,
                              output_path: str | os.PathLike | None = None, progress=False) -> dict:
        """Times sgemm/dgemm n x n on the chosen backend ("optimized") against the builtin GEMM
        ("baseline"), median of num_iterations calls each. Returns {"entries": [{operation, size,
        backend, baseline, baseline_seconds, optimized_seconds, speedup, gflops}, ...], "threads",
        "iterations", "average_speedup" (geometric mean), "max_speedup", "json" (Google Benchmark
        JSON text)}; the JSON is also written atomically to output_path when given.

        progress: False (default) or None shows nothing; True draws a progress bar on stderr (a
        line per 10% when stderr is not a terminal); a callable(fraction, detail) is called after
        each row. Ctrl-C, or an exception from the callable, stops the benchmark and propagates."""
        sizes = [int(n) for n in matrix_sizes]
        return self._benchmark_performance(sizes, int(num_iterations), os.fspath(output_path) if output_path else "",
                                           progress)

    def __repr__(self):
        return f"MKLOptimizer({self._config!r})"


def enable_mkl_optimization(config: MKLConfig | None = None, **kwargs) -> MKLOptimizer:
    """An MKLOptimizer on the process's default context (the API's helper)."""
    return MKLOptimizer(config, **kwargs)


_default_optimizer = None


def _default() -> MKLOptimizer:
    global _default_optimizer
    if _default_optimizer is None:
        _default_optimizer = MKLOptimizer()
    return _default_optimizer


def spectral_radius(matrix, rel_tol: float = 1e-6):
    """Verified max |eigenvalue| of a square dense array, neuroperf.CsrMatrix or scipy.sparse
    matrix (a SpectralRadius; float(r) is the value)."""
    return _default().spectral_radius(matrix, rel_tol)
