"""The package's own surface: `from neuroperf import *` keeps the builtins, neuroperf.errors,
the version from the build, and result records made from the C++ field lists (attributes, a
mapping view, to_dict, NumPy views of the result's memory that keep it alive)."""
import builtins
import gc

import numpy as np
import pytest

import neuroperf as npf


def test_star_import_keeps_the_builtin_exceptions():
    ns = {}
    exec("from neuroperf import *", ns)
    for name in ("ValueError", "TypeError", "IOError"):
        assert name not in ns
    exec("try:\n    int('x')\n    caught = False\nexcept ValueError:\n    caught = True", ns)
    assert ns["caught"]  # a user's `except ValueError:` still catches int("x")
    assert ns["Error"] is npf.Error and ns["ShapeError"] is npf.ShapeError
    ns = {}
    exec("from neuroperf.errors import *", ns)
    assert "ValueError" not in ns and ns["TaskError"] is npf.TaskError


def test_errors_module_and_builtin_bases():
    from neuroperf import errors
    assert errors.ValueError is npf.ValueError
    assert issubclass(errors.ValueError, builtins.ValueError) and issubclass(errors.ValueError, errors.Error)
    assert issubclass(errors.TypeError, builtins.TypeError)
    assert issubclass(errors.IOError, OSError)
    assert issubclass(errors.ShapeError, builtins.ValueError)
    with pytest.raises(ValueError, match="num_threads"):  # the builtin catches ours
        npf.MKLConfig(num_threads=-1)


def test_version_comes_from_the_build():
    import importlib.metadata
    assert npf.__version__ == npf._core.version() == importlib.metadata.version("neuroperf")


def small_run():
    net = npf.Network(dt=0.1, seed=2, num_threads=1)
    p = net.add_vogels_abbott("cuba", 500, 0.05)
    net.add_state_monitor(p, [0, 3], ["v", "g_e"], 5)
    return net.run(50.0)


def test_result_records_have_attributes_and_a_mapping_view():
    r = small_run()
    s = r.summary
    assert isinstance(s, npf.SimulationSummary)
    assert s.steps == 500 and s["steps"] == 500 and "cv_isi" in s and "nope" not in s
    assert list(s.keys())[:3] == ["neurons", "poisson_sources", "synapses"] and len(s) == len(s.keys())
    assert dict(s.items())["spikes"] == s.spikes
    assert s.memory.total == s.memory.synapses + s.memory.state + s.memory.monitors == s.memory["total"]
    with pytest.raises(KeyError):
        s["nope"]
    assert "SimulationSummary(neurons=500" in repr(s)
    d = r.to_dict()
    assert isinstance(d["summary"], dict) and isinstance(d["summary"]["memory"], dict)
    assert isinstance(d["spikes"][0], dict) and d["spikes"][0]["ids"].dtype == np.int32
    assert npf.SimulationSummary.mean_rate_hz.__doc__.startswith("LIF spikes")


def test_result_arrays_are_views_that_keep_the_result_alive():
    r = small_run()
    ids = r.spikes[0].ids
    times = r.spikes[0].times_ms
    values = r.states[0].values
    assert values.shape == (len(r.states[0].times_ms), 2, 2) and values.dtype == np.float32
    assert r.states[0].variables == ["v", "g_e"]
    assert np.shares_memory(r.spikes[0].ids, ids)  # views of one buffer, no copies
    expected = ids.copy()
    del r
    gc.collect()
    np.testing.assert_array_equal(ids, expected)  # still valid: the arrays own the result
    assert len(times) == len(ids)


def test_parallel_and_benchmark_reports_are_records():
    pp = npf.ParallelProcessor(num_threads=2)
    pp.parallel_spike_processing([np.ones(8)] * 5, lambda b: float(b.sum()))
    stats = pp.get_performance_stats()
    assert isinstance(stats, npf.ParallelStats) and stats["calls"] == 1
    last = stats["last"]
    assert isinstance(last, npf.ParallelReport) and last.operation == "spike_processing"
    assert isinstance(last.tasks[0], npf.TaskRecord) and len(last["tasks"]) == 5
    assert last.summary.startswith("spike_processing: 5 tasks")
    assert stats.to_dict()["last"]["tasks"][0]["index"] == 0
    backends = npf.backends()
    assert all(isinstance(b, npf.BackendInfo) for b in backends) and backends[-1].name == "builtin"


def test_kernel_variant_and_families():
    import os
    import subprocess
    import sys
    assert npf.kernel_isa() in ("generic", "avx2", "avx512")
    fams = npf.kernel_families()
    assert {f["name"] for f in fams} >= {"reservoir", "elementwise", "builtin_gemm"}
    assert all(f["runs"] == npf.kernel_isa() for f in fams)
    # NEUROPERF_ISA is read when the library makes its default context.
    code = "import neuroperf as n; print(n.kernel_isa())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "NEUROPERF_ISA": "generic"}).stdout.strip()
    assert out == "generic"
