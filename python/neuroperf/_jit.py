"""The JIT compilation component: kernels compiled for their constants and the CPU, cached on
disk, with the AOT kernels as fallback (see docs/guide/python_jit.md)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from . import _core
from ._config import _Config, resolve_config


class JITConfig(_Config):
    """The compiler's configuration (JITConfig).

    enable_jit: False = every kernel is the ahead-of-time (AOT) kernel, no compiler runs;
    cache_compiled_functions: keep compiled kernels in <cache_dir>/jit for later runs;
    enable_fastmath: compile with -ffast-math (within rounding of the AOT kernel instead of
        bit-identical);
    enable_parallel_loops: OpenMP work-sharing in the generated neuron update;
    verbose: log compiles, cache hits and the cache location to stderr.
    """

    _fields = {
        "enable_jit": (True, (bool,), "compile kernels"),
        "cache_compiled_functions": (True, (bool,), "persistent cache"),
        "enable_fastmath": (False, (bool,), "-ffast-math"),
        "enable_parallel_loops": (False, (bool,), "OpenMP loops"),
        "verbose": (False, (bool,), "log to stderr"),
    }


def _new_state(self, v0=None) -> dict:
    """Zeroed state for this kernel: v (0, or v0: a value or an array), g_e, g_i, refractory (int32),
    ring_e, ring_i (max_delay x num_neurons), in the kernel's dtype, ready for update/step."""
    n, d, dt = self.num_neurons, self.max_delay, self.dtype
    v = np.zeros(n, dt)
    if v0 is not None:
        v[:] = v0
    return {"v": v, "g_e": np.zeros(n, dt), "g_i": np.zeros(n, dt), "refractory": np.zeros(n, np.int32),
            "ring_e": np.zeros((d, n), dt), "ring_i": np.zeros((d, n), dt)}


_core.SpikeProcessingKernel.new_state = _new_state


class LazyConvolutionKernel:
    """What compile_convolution_kernel() with no arguments returns (like a Numba @njit function):
    kernel(x, taps, mode="valid") compiles a kernel for each new (taps, signal length, mode, dtype)
    on first use and reuses it afterwards (at most `maxsize` kept)."""

    def __init__(self, compiler: "JITCompiler", maxsize: int = 64):
        self._compiler = compiler
        self._kernels: OrderedDict = OrderedDict()
        self._maxsize = maxsize

    def __call__(self, x, taps, mode: str = "valid"):
        x = np.asarray(x)
        taps = np.asarray(taps)
        dtype = np.result_type(x.dtype if x.dtype.kind == "f" else np.float64,
                               taps.dtype if taps.dtype.kind == "f" else np.float64)
        key = (taps.tobytes(), taps.dtype.str, x.shape[-1], mode, dtype.str)
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = self._compiler.compile_convolution_kernel(taps, x.shape[-1], mode, dtype=dtype.name)
            self._kernels[key] = kernel
            if len(self._kernels) > self._maxsize:
                self._kernels.popitem(last=False)
        else:
            self._kernels.move_to_end(key)
        return kernel(x)


class _LazyKernels:
    """A small LRU of compiled kernels keyed by call signature."""

    def __init__(self, maxsize: int = 64):
        self._kernels: OrderedDict = OrderedDict()
        self._maxsize = maxsize

    def get(self, key, make):
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = make()
            self._kernels[key] = kernel
            if len(self._kernels) > self._maxsize:
                self._kernels.popitem(last=False)
        else:
            self._kernels.move_to_end(key)
        return kernel


def _float_dtype(*arrays) -> np.dtype:
    kinds = [a.dtype for a in arrays if a.dtype.kind == "f"]
    return np.result_type(*kinds) if kinds else np.dtype(np.float64)


class LazyReservoirUpdateKernel(_LazyKernels):
    """What compile_reservoir_update_kernel() with no arguments returns: kernel(state,
    input_weights, reservoir_weights, input, leak_rate=1.0, activation="tanh", bias=None) updates
    state in place, compiling a kernel per new (N, D, leak, activation, dense/sparse, bias, dtype)."""

    def __init__(self, compiler: "JITCompiler"):
        super().__init__()
        self._compiler = compiler

    def __call__(self, state, input_weights, reservoir_weights, input, leak_rate=1.0, activation="tanh", bias=None):
        win = np.asarray(input_weights)
        sparse = isinstance(reservoir_weights, _core.CsrMatrix) or hasattr(reservoir_weights, "tocsr")
        dtype = np.dtype(state.dtype)
        key = (state.shape[0], win.shape[1] if win.ndim == 2 else 0, float(leak_rate), activation, sparse,
               bias is not None, dtype.str)
        kernel = self.get(key, lambda: self._compiler.compile_reservoir_update_kernel(
            num_neurons=state.shape[0], input_dim=key[1], leak_rate=leak_rate, activation=activation, sparse=sparse,
            has_bias=bias is not None, dtype=dtype.name))
        kernel(state, input_weights, reservoir_weights, input, bias)


class LazyMatmulKernel(_LazyKernels):
    """What compile_matrix_multiply_kernel() with no arguments returns: kernel(a, b) = a @ b with a
    kernel compiled per new (M, N, K, dtype)."""

    def __init__(self, compiler: "JITCompiler"):
        super().__init__()
        self._compiler = compiler

    def __call__(self, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim != 2 or b.ndim != 2:
            raise _core.ShapeError(f"a, b: expected 2-D arrays, got shapes {a.shape} and {b.shape}")
        dtype = _float_dtype(a, b)
        key = (a.shape[0], b.shape[1], a.shape[1], dtype.str)
        kernel = self.get(key, lambda: self._compiler.compile_matrix_multiply_kernel(*key[:3], dtype=dtype.name))
        return kernel(a, b)


class JITCompiler(_core._JITCompiler):
    """JITCompiler. Kernels are compiled once per (constants, dtype, flags, compiler,
    CPU) and cached on disk; with no usable compiler the AOT kernel is returned (one warning,
    kernel.is_compiled False), so code written against it always runs."""

    def __init__(self, config: JITConfig | None = None, **kwargs):
        config = resolve_config("JITCompiler", JITConfig, config, kwargs)
        super().__init__(**config.to_dict())
        self._config = config

    @property
    def config(self) -> JITConfig:
        return self._config

    def compile_spike_processing_kernel(self, num_neurons: int = 4000, synapse: str = "current",
                                        dtype: str = "float32", *, dt: float = 0.1, tau_m: float = 20.0,
                                        tau_e: float = 5.0, tau_i: float = 10.0, v_rest: float = -60.0,
                                        v_reset: float = -60.0, v_thresh: float = -50.0, i_ext: float = 0.0,
                                        e_exc: float = 0.0, e_inh: float = -80.0, refractory: float = 5.0,
                                        max_delay: int = 1, uniform_delay: int = 1, num_targets: int = 0,
                                        exc_count: int = -1):
        """A leaky integrate-and-fire population step fused with spike propagation, compiled for
        these constants (times in ms, potentials in mV; synapse "current" = CUBA, "conductance" =
        COBA). Call kernel.step(...) / update(...) / propagate(...) on NumPy state arrays (see
        kernel.new_state()). Defaults: 4,000 float32 CUBA neurons, Brian2's CUBA constants."""
        return self._spike_kernel(str(np.dtype(dtype)), int(num_neurons), synapse, float(dt), float(tau_m),
                                  float(tau_e), float(tau_i), float(v_rest), float(v_reset), float(v_thresh),
                                  float(i_ext), float(e_exc), float(e_inh), float(refractory), int(max_delay),
                                  int(uniform_delay), int(num_targets), int(exc_count))

    def compile_convolution_kernel(self, taps=None, signal_length: int | None = None, mode: str = "valid",
                                   dtype: str | None = None):
        """numpy.convolve(x, taps, mode) with taps, signal length and mode baked in: kernel(x) for
        x of shape (signal_length,) or (channels, signal_length). With no arguments (the API's
        call): a LazyConvolutionKernel, kernel(x, taps, mode), compiling per new signature."""
        if taps is None and signal_length is None:
            return LazyConvolutionKernel(self)
        if taps is None or signal_length is None:
            raise _core.TypeError("compile_convolution_kernel: give both taps and signal_length, or neither")
        return self._convolution_kernel(taps, int(signal_length), mode, None if dtype is None else str(np.dtype(dtype)))

    def compile_reservoir_update_kernel(self, num_neurons: int | None = None, input_dim: int = 1,
                                        leak_rate: float = 1.0, activation: str = "tanh", sparse: bool = False,
                                        has_bias: bool = False, precision: str = "high", dtype: str = "float64"):
        """The fused echo-state-network step x' = (1-a)x + a f(W_in u + W x + b) with N, D, leak,
        activation, weight format (dense or CSR) and bias baked in: kernel(state, input_weights,
        reservoir_weights, input, bias=None) updates state in place, bit-identical to
        MKLOptimizer.reservoir_update_inplace without fast math. With no arguments (the API's
        call): a LazyReservoirUpdateKernel that compiles per call signature."""
        if num_neurons is None:
            return LazyReservoirUpdateKernel(self)
        return self._reservoir_kernel(str(np.dtype(dtype)), int(num_neurons), int(input_dim), float(leak_rate),
                                      activation, bool(sparse), bool(has_bias), precision)

    def compile_matrix_multiply_kernel(self, M: int | None = None, N: int | None = None, K: int | None = None,
                                       dtype: str = "float64"):
        """C = A @ B for one shape (M x K times K x N): libxsmm's JIT when every dimension is <= 64,
        else the fastest GEMM for the shape; kernel(a, b) returns C. With no arguments (the API's
        call): a LazyMatmulKernel that compiles per shape."""
        if M is None and N is None and K is None:
            return LazyMatmulKernel(self)
        if M is None or N is None or K is None:
            raise _core.TypeError("compile_matrix_multiply_kernel: give M, N and K, or none of them")
        return self._matmul_kernel(str(np.dtype(dtype)), int(M), int(N), int(K))

    def benchmark_jit_performance(self, test_sizes=(100, 500, 1000), num_iterations: int = 5, progress=False) -> dict:
        """Cold compile, warm loads (disk, memory) and compiled-vs-AOT kernel times: {row name:
        median seconds}, rows as `neuroperf bench --suite jit` names them.

        progress: False (default) or None shows nothing; True draws a progress bar on stderr (a
        line per 10% when stderr is not a terminal); a callable(fraction, detail) is called after
        each size of each part. Ctrl-C, or an exception from the callable, stops the benchmark and propagates."""
        return self._benchmark_jit_performance([int(n) for n in test_sizes], int(num_iterations), progress)

    def __repr__(self):
        return f"JITCompiler({self._config!r})"


def enable_jit_compilation(config: JITConfig | None = None, **kwargs) -> JITCompiler:
    """A JITCompiler on the process's default context (the API's helper)."""
    return JITCompiler(config, **kwargs)
