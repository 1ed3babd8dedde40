"""neuroperf.ParallelProcessor from Python: the API's calls with Python callables and C++ cores,
every strategy, ordering, exceptions, bit-identity, monitoring and configuration errors."""
import os
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

import neuroperf as npf


def square_sum(batch, scale=1.0):  # module level: picklable for the process strategy
    return float(np.sum(np.asarray(batch) ** 2) * scale)


def fail_on_three(batch):
    if int(batch[0]) == 3:
        raise KeyError("bad batch")
    return int(batch[0])


def die(batch):
    os._exit(3)


# --- configuration ------------------------------------------------------------------------------

def test_seed_configuration_example():
    config = npf.ParallelConfig(num_threads=4, parallel_strategy="thread", enable_load_balancing=True,
                                load_balance_threshold=0.8, verbose=False)
    processor = npf.ParallelProcessor(config)
    assert processor.config is config and processor.num_threads == 4
    assert isinstance(npf.enable_parallel_processing(), npf.ParallelProcessor)


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"parallel_strategy": "gpu"}, npf.ValueError, "thread, process, jax_pmap"),
    ({"load_balance_threshold": 0.0}, npf.ValueError, "load_balance_threshold"),
    ({"load_balance_threshold": 1.5}, npf.ValueError, "load_balance_threshold"),
    ({"num_threads": 0}, npf.ValueError, "num_threads"),
    ({"chunk_size": -1}, npf.ValueError, "chunk_size"),
    ({"workers": 2}, npf.TypeError, "workers"),
    ({"enable_load_balancing": "yes"}, npf.TypeError, "enable_load_balancing"),
])
def test_bad_config(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        npf.ParallelConfig(**kwargs)


def test_jax_pmap_needs_jax():
    try:
        import jax  # noqa: F401
    except ImportError:
        with pytest.raises(npf.ValueError, match="JAX"):
            npf.ParallelConfig(parallel_strategy="jax_pmap")
        return
    p = npf.ParallelProcessor(parallel_strategy="jax_pmap")
    out = p.parallel_spike_processing([np.ones(4) * i for i in range(5)], lambda b: b * 2)
    np.testing.assert_allclose(np.stack(out), np.stack([np.ones(4) * i * 2 for i in range(5)]))


# --- spike processing ---------------------------------------------------------------------------

@pytest.mark.parametrize("threads", [1, 2, 4])
def test_results_in_input_order(threads):
    p = npf.ParallelProcessor(num_threads=threads)
    batches = [np.full(10 + (7 * i) % 13, float(i)) for i in range(37)]
    out = p.parallel_spike_processing(batches, square_sum, scale=0.5)
    assert out == [square_sum(b, scale=0.5) for b in batches]
    stats = p.get_performance_stats()
    assert stats["calls"] == 1 and stats["tasks"] == 37 and stats["last"]["operation"] == "spike_processing"
    assert len(stats["last"]["tasks"]) == 37 and stats["last"]["workers"] <= threads


def test_empty_and_single_batch():
    p = npf.ParallelProcessor(num_threads=2)
    assert p.parallel_spike_processing([], square_sum) == []
    assert p.parallel_spike_processing([np.ones(3)], square_sum) == [3.0]


def test_exception_names_the_task_and_keeps_the_cause():
    p = npf.ParallelProcessor(num_threads=2)
    with pytest.raises(npf.TaskError) as info:
        p.parallel_spike_processing([np.array([i]) for i in range(8)], fail_on_three)
    assert info.value.task_index == 3 and "3" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)
    # the processor is usable afterwards (no deadlock, no leaked state)
    assert p.parallel_spike_processing([np.array([1])], fail_on_three) == [1]


def test_threads_run_concurrently_when_the_callable_releases_the_gil():
    p = npf.ParallelProcessor(num_threads=2)
    opt = npf.MKLOptimizer(num_threads=1)
    a = np.random.default_rng(0).standard_normal((300, 300))
    seen = set()

    def work(batch):
        seen.add(threading.get_ident())
        return opt.optimize_matrix_multiply(batch, batch).sum()

    out = p.parallel_spike_processing([a] * 8, work)
    assert len(out) == 8 and np.allclose(out, (a @ a).sum())
    assert p.get_performance_stats()["last"]["workers"] == 2


def test_process_strategy_runs_picklable_functions_and_reports_errors():
    p = npf.ParallelProcessor(num_threads=2, parallel_strategy="process")
    try:
        batches = [np.arange(5.0) + i for i in range(6)]
        assert p.parallel_spike_processing(batches, square_sum) == [square_sum(b) for b in batches]
        with pytest.raises(npf.TaskError) as info:
            p.parallel_spike_processing([np.array([i]) for i in range(6)], fail_on_three)
        assert info.value.task_index == 3 and isinstance(info.value.__cause__, KeyError)
        with pytest.raises(npf.WorkerError, match="task 0"):
            p.parallel_spike_processing([np.ones(1)], die)
        assert p.parallel_spike_processing([np.ones(2)], square_sum) == [2.0]  # a new pool
    finally:
        p.close()


# --- reservoirs -----------------------------------------------------------------------------------

def reservoirs(k, n, d, dtype, seed=0):
    rng = np.random.default_rng(seed)
    ws = []
    for i in range(k):
        w = sp.random(n, n, density=0.1, format="csr", random_state=seed + i, dtype=np.float64)
        w.data -= 0.5
        ws.append(w.astype(dtype))
    wins = [(rng.standard_normal((n, d)) * 0.5).astype(dtype) for _ in range(k)]
    x0 = [np.zeros(n, dtype) for _ in range(k)]
    us = [rng.standard_normal((10 + i, d)).astype(dtype) for i in range(k)]
    return x0, wins, ws, us


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dense", [False, True])
def test_reservoirs_bit_identical_to_serial_at_any_thread_count(dtype, dense):
    x0, wins, ws, us = reservoirs(5, 60, 3, dtype)
    if dense:
        ws = [w.toarray() for w in ws]
    serial = npf.MKLOptimizer(num_threads=1)
    ref = [serial.run_reservoir(x0[k], wins[k], ws[k], us[k], leak_rate=0.5) for k in range(5)]
    for threads in (1, 2, 4):
        p = npf.ParallelProcessor(num_threads=threads)
        out = p.parallel_reservoir_computation(x0, wins, ws, us, leak_rate=0.5)
        assert len(out) == 5
        for a, b in zip(out, ref):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)


def test_reservoirs_shared_weights_and_scipy_vs_csr():
    x0, wins, ws, us = reservoirs(4, 40, 2, np.float64)
    p = npf.ParallelProcessor(num_threads=2)
    shared = p.parallel_reservoir_computation(x0, wins[:1], [npf.CsrMatrix.from_scipy(ws[0])], us)
    scipy_in = p.parallel_reservoir_computation(x0, wins[:1], ws[:1], us)
    for a, b in zip(shared, scipy_in):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(npf.ValueError):
        p.parallel_reservoir_computation(x0, wins[:2], ws, us)  # 2 of 4 input weights
    with pytest.raises(npf.ShapeError):
        p.parallel_reservoir_computation(x0, [w[:5] for w in wins], ws, us)


# --- reasoning ------------------------------------------------------------------------------------

class Doubler:
    name = "doubler"

    def __init__(self, cost=1.0):
        self.cost = cost

    def process(self, x):
        time.sleep(0.001 * self.cost)
        return np.asarray(x) * 2

    def estimate_cost(self, x):
        return self.cost


def test_multi_modal_with_cpp_and_python_cores():
    visual = npf.ReservoirReasoningCore("visual", reservoir_size=300, input_dim=16, output_dim=4)
    audio = npf.ReservoirReasoningCore("audio", reservoir_size=100, input_dim=8, output_dim=2, seed=7)
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((20, 16)).astype(np.float32), rng.standard_normal((30, 8)).astype(np.float32),
              np.arange(5, dtype=np.float32)]
    cores = [visual, audio, Doubler()]
    p = npf.ParallelProcessor(num_threads=2)
    res = p.parallel_multi_modal_reasoning(cores, inputs)
    outputs, report = res
    assert outputs[0].shape == (20, 4) and outputs[1].shape == (30, 2)
    np.testing.assert_array_equal(outputs[0], visual.process(inputs[0]))
    np.testing.assert_array_equal(outputs[1], audio.process(inputs[1]))
    np.testing.assert_array_equal(outputs[2], inputs[2] * 2)
    assert report["operation"] == "multi_modal_reasoning" and len(report["tasks"]) == 3
    assert report["imbalance"] >= 1.0


def test_multi_modal_load_balancing_on_skewed_costs():
    cores = [Doubler(cost=c) for c in (64, 32, 16, 8, 4, 2, 1)]
    inputs = [np.ones(3, np.float32)] * len(cores)
    p = npf.ParallelProcessor(num_threads=2)
    balanced = p.parallel_multi_modal_reasoning(cores, inputs, load_balance=True).report
    assert balanced["scheduled_makespan"] <= 64 * 1.1  # the optimum is 64 (64 vs 63)


def test_multi_modal_errors():
    p = npf.ParallelProcessor(num_threads=2)

    class Broken:
        def process(self, x):
            raise RuntimeError("broken core")

    with pytest.raises(npf.TaskError) as info:
        p.parallel_multi_modal_reasoning([Doubler(), Broken()], [np.ones(2), np.ones(2)])
    assert info.value.task_index == 1 and isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(npf.ValueError, match="input_data_list"):
        p.parallel_multi_modal_reasoning([Doubler()], [np.ones(2), np.ones(2)])
    with pytest.raises(npf.TypeError, match="process"):
        p.parallel_multi_modal_reasoning([object()], [np.ones(2)])


def test_benchmark_parallel_performance(tmp_path):
    p = npf.ParallelProcessor(num_threads=2)
    rep = p.benchmark_parallel_performance(test_sizes=[50], num_iterations=1, output_path=tmp_path / "par.json")
    assert rep["entries"] and (tmp_path / "par.json").exists()
    assert {e["threads"] for e in rep["entries"]} >= {1}
    for e in rep["entries"]:
        assert e["seconds"] > 0 and e["speedup"] > 0


def test_benchmark_parallel_progress_reaches_one_per_row():
    p = npf.ParallelProcessor(num_threads=2)
    seen = []
    rep = p.benchmark_parallel_performance(test_sizes=[20], num_iterations=1, progress=lambda f, d: seen.append((f, d)))
    assert len(seen) == len(rep["entries"]) and seen[-1][0] == 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    assert seen[0][1] == "thread n=20 threads=1"
