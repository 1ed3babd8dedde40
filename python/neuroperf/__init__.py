"""neuroperf: a performance layer for spiking networks and reservoir computing.

The API (MKLOptimizer, ParallelProcessor, JITCompiler and the enable_*() helpers) and
the spiking network engine (Network), backed by the C++ library. See docs/guide/python.md.
"""

import os as _os
import sys as _sys

# The MKL wheel installs its libraries into the virtual environment's lib/: let the backend
# registry look there when the interpreter runs in a venv that is not activated.
if _sys.prefix != _sys.base_prefix and not _os.environ.get("VIRTUAL_ENV"):
    _os.environ["VIRTUAL_ENV"] = _sys.prefix

from . import _core, errors  # noqa: E402
# The exceptions (neuroperf.errors); ValueError, TypeError and IOError are attributes of the
# package but not in __all__, so that `from neuroperf import *` keeps the builtins.
from .errors import (  # noqa: E402,F401
    BackendError, Error, IOError, NotBuiltError, ShapeError, TaskError, TypeError, ValueError, WorkerError)
from ._core import (  # noqa: E402,F401
    AlphaKernel, CsrMatrix, ExponentialKernel, SpectralRadius, SpikeKernel, backends, cache_dir, kernel_isa,
    kernel_families,
    scale_to_spectral_radius, ReasoningCore, ReservoirReasoningCore,
    SpikeProcessingKernel, ConvolutionKernel, ReservoirUpdateKernel, MatmulKernel, jit_cache_entries,
    clear_jit_cache)
# Result records (made from the C++ field lists: attributes, r["name"], keys(), to_dict()).
from ._core import (  # noqa: E402,F401
    BackendInfo, BenchmarkEntry, BenchmarkReport, JitCacheEntry, ParallelBenchmarkEntry,
    ParallelBenchmarkReport, ParallelReport, ParallelStats, TaskRecord)
from ._core import cached_buffer_bytes, free_cached_buffers  # noqa: E402,F401
from ._mkl import MKLConfig, MKLOptimizer, enable_mkl_optimization, spectral_radius  # noqa: E402,F401
from ._jit import (  # noqa: E402,F401
    JITCompiler, JITConfig, LazyConvolutionKernel, LazyMatmulKernel, LazyReservoirUpdateKernel,
    enable_jit_compilation)
from ._parallel import (  # noqa: E402,F401
    MultiModalResult, ParallelConfig, ParallelProcessor, enable_parallel_processing)
from ._snn import (  # noqa: E402,F401
    MemoryEstimate, Network, NetworkConfig, PoissonInputSpec, PopulationSpec, ProjectionSpec, RateMonitorData,
    SimulationResult, SimulationSummary, SpikeMonitorData, StateMonitorData, add_vogels_abbott)

__version__ = _core.version()

__all__ = [
    "MKLConfig", "MKLOptimizer", "enable_mkl_optimization",
    "ParallelConfig", "ParallelProcessor", "enable_parallel_processing", "MultiModalResult",
    "ReasoningCore", "ReservoirReasoningCore", "ParallelReport", "ParallelStats", "TaskRecord",
    "ParallelBenchmarkReport", "ParallelBenchmarkEntry",
    "JITConfig", "JITCompiler", "enable_jit_compilation", "SpikeProcessingKernel", "ConvolutionKernel",
    "LazyConvolutionKernel", "ReservoirUpdateKernel", "MatmulKernel", "LazyReservoirUpdateKernel",
    "LazyMatmulKernel", "jit_cache_entries", "clear_jit_cache",
    "Network", "NetworkConfig", "PopulationSpec", "PoissonInputSpec", "ProjectionSpec",
    "SimulationResult", "SimulationSummary", "MemoryEstimate", "SpikeMonitorData", "RateMonitorData",
    "StateMonitorData",
    "add_vogels_abbott",
    "ExponentialKernel", "AlphaKernel", "SpikeKernel", "CsrMatrix", "SpectralRadius",
    "spectral_radius", "scale_to_spectral_radius", "backends", "cache_dir", "kernel_isa", "kernel_families",
    "BackendInfo",
    "BenchmarkReport", "BenchmarkEntry", "JitCacheEntry",
    "errors", "Error", "ShapeError", "BackendError", "NotBuiltError", "TaskError", "WorkerError",
]
__all__ += ["free_cached_buffers", "cached_buffer_bytes"]
