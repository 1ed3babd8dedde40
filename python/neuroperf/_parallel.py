"""The parallel processing component: ParallelProcessor with its strategies (see
docs/guide/python_parallel.md)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from . import _core
from ._config import _Config, resolve_config

STRATEGIES = ("thread", "process", "jax_pmap")


def _jax_available() -> bool:
    try:
        import jax  # noqa: F401
    except Exception:
        return False
    return True


class ParallelConfig(_Config):
    """The processor's configuration (ParallelConfig).

    num_threads: workers (None = CPUs available, honouring OMP_NUM_THREADS);
    parallel_strategy: "thread" (OpenMP threads; Python callables hold the GIL only while they
        run), "process" (spawned worker processes; callables must be picklable) or "jax_pmap"
        (jax.pmap over the local devices; needs JAX);
    enable_load_balancing: longest-processing-time-first schedule refined by measured costs, with
        work stealing (False: static blocks in input order);
    load_balance_threshold: in (0, 1], steal when the queued work's balance (mean/max) is below it;
    chunk_size: tasks per static block (0 = one block per worker);
    process_task_timeout: seconds before a worker process running one task is killed;
    verbose: log schedules and monitoring to stderr.
    """

    _fields = {
        "num_threads": (None, (int,), "workers (None = auto)"),
        "parallel_strategy": ("thread", (str,), "thread | process | jax_pmap"),
        "enable_load_balancing": (True, (bool,), "LPT + stealing"),
        "load_balance_threshold": (0.8, (float, int), "in (0, 1]"),
        "chunk_size": (0, (int,), "tasks per static block"),
        "process_task_timeout": (600.0, (float, int), "seconds"),
        "verbose": (False, (bool,), "log to stderr"),
    }

    def validate(self) -> None:
        if self.parallel_strategy not in STRATEGIES:
            raise _core.ValueError(f"ParallelConfig.parallel_strategy: expected one of {', '.join(STRATEGIES)}, "
                                   f"got {self.parallel_strategy!r}")
        if self.parallel_strategy == "jax_pmap" and not _jax_available():
            raise _core.ValueError("ParallelConfig.parallel_strategy: \"jax_pmap\" needs JAX, which is not "
                                   "installed (pip install jax); the strategies available are thread, process")
        _core._ParallelProcessor(**self._core_kwargs())

    def _core_kwargs(self) -> dict:
        d = self.to_dict()
        if d["num_threads"] is None:
            d["num_threads"] = 0
        elif d["num_threads"] < 1:
            raise _core.ValueError(f"ParallelConfig.num_threads: expected None or an integer >= 1, "
                                   f"got {d['num_threads']}")
        if d["parallel_strategy"] == "jax_pmap":  # implemented here in Python, on the thread machinery
            d["parallel_strategy"] = "thread"
        d["load_balance_threshold"] = float(d["load_balance_threshold"])
        d["process_task_timeout"] = float(d["process_task_timeout"])
        return d


class MultiModalResult(NamedTuple):
    outputs: list          # outputs[i] = reasoning_cores[i].process(input_data_list[i])
    report: dict           # the call's monitoring (see ParallelProcessor.get_performance_stats)


def _cost(batch: Any) -> float:
    size = getattr(batch, "size", None)
    if isinstance(size, (int, np.integer)):
        return float(size) + 1.0
    try:
        return float(len(batch)) + 1.0
    except TypeError:
        return 1.0


def _call(func, batch, kwargs):  # module level: picklable for the process pool
    return func(batch, **kwargs)


class ParallelProcessor(_core._ParallelProcessor):
    """ParallelProcessor (see ParallelConfig for the strategies)."""

    def __init__(self, config: ParallelConfig | None = None, **kwargs):
        config = resolve_config("ParallelProcessor", ParallelConfig, config, kwargs)
        super().__init__(**config._core_kwargs())
        self._config = config
        self._pool: cf.ProcessPoolExecutor | None = None

    @property
    def config(self) -> ParallelConfig:
        return self._config

    # --- spike batches --------------------------------------------------------------------------
    def parallel_spike_processing(self, spike_batches: Sequence, processing_func: Callable, **kwargs) -> list:
        """[processing_func(batch, **kwargs) for batch in spike_batches], computed in parallel, in
        input order. A failing task raises neuroperf.TaskError (.task_index; the task's exception
        is its __cause__) and the tasks not yet started are skipped."""
        if not callable(processing_func):
            raise _core.TypeError(f"processing_func: expected a callable, got {type(processing_func).__name__}")
        batches = list(spike_batches)
        strategy = self._config.parallel_strategy
        if strategy == "process":
            return self._process_map(processing_func, batches, kwargs)
        if strategy == "jax_pmap":
            return self._pmap(processing_func, batches, kwargs)
        results: list = [None] * len(batches)

        def task(i: int) -> None:
            results[i] = processing_func(batches[i], **kwargs)

        self._run_tasks("spike_processing", [_cost(b) for b in batches], True, task)
        return results

    def _process_map(self, func, batches, kwargs) -> list:
        if self._pool is None:  # spawn, never fork: the parent has started threads
            self._pool = cf.ProcessPoolExecutor(max_workers=self.num_threads,
                                                mp_context=multiprocessing.get_context("spawn"))
        futures = [self._pool.submit(_call, func, b, kwargs) for b in batches]
        results: list = [None] * len(batches)
        timeout = self._config.process_task_timeout
        try:
            for i, f in enumerate(futures):
                try:
                    results[i] = f.result(timeout=timeout * max(1, len(batches)))
                except cf.process.BrokenProcessPool as e:
                    self._discard_pool()
                    raise _core.WorkerError(f"task {i}: a worker process died (crashed or killed) while "
                                            f"running it") from e
                except cf.TimeoutError as e:
                    self._discard_pool()
                    raise _core.WorkerError(f"task {i}: no result after {timeout:g} s per task; the pool "
                                            f"was shut down") from e
                except _core.WorkerError:
                    raise
                except Exception as e:
                    err = _core.TaskError(f"task {i} failed: {type(e).__name__}: {e}")
                    err.task_index = i
                    raise err from e
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return results

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _pmap(self, func, batches, kwargs) -> list:
        import jax
        import jax.numpy as jnp

        ndev = jax.local_device_count()
        mapped = jax.pmap(lambda b: func(b, **kwargs))
        results: list = []
        for start in range(0, len(batches), ndev):
            group = batches[start:start + ndev]
            shapes = {np.shape(b) for b in group}
            if len(shapes) != 1:
                raise _core.ValueError(f"spike_batches: jax_pmap needs batches of one shape per device group, "
                                       f"got {sorted(shapes)} in batches {start}..{start + len(group) - 1}")
            try:
                out = mapped(jnp.stack([jnp.asarray(b) for b in group]))
            except Exception as e:
                err = _core.TaskError(f"tasks {start}..{start + len(group) - 1} failed under jax.pmap: {e}")
                err.task_index = start
                raise err from e
            results.extend(np.asarray(o) for o in out)
        return results

    # --- reasoning --------------------------------------------------------------------------------
    def parallel_multi_modal_reasoning(self, reasoning_cores: Sequence, input_data_list: Sequence,
                                       load_balance: bool = True) -> MultiModalResult:
        """outputs[i] = reasoning_cores[i].process(input_data_list[i]) in parallel, scheduled by the
        cores' cost estimates refined by measured times (load_balance) with work stealing. Cores are
        neuroperf.ReservoirReasoningCore (C++, run without the GIL) or any object with process(x)
        (and optionally name, estimate_cost(x)). Returns (outputs, report)."""
        outputs, report = self._multi_modal(list(reasoning_cores), list(input_data_list), bool(load_balance))
        return MultiModalResult(outputs, report)

    def benchmark_parallel_performance(self, test_sizes=(100, 500, 1000), num_iterations: int = 5,
                                       output_path: str | os.PathLike | None = None, progress=False) -> dict:
        """Speed-up and efficiency at 1..num_threads threads for K=8 CSR reservoirs of each size
        (median of num_iterations): {"entries": [{workload, strategy, size, threads, seconds,
        speedup, efficiency}], "iterations", "json"}; the JSON is also written to output_path.

        progress: False (default) or None shows nothing; True draws a progress bar on stderr (a
        line per 10% when stderr is not a terminal); a callable(fraction, detail) is called after
        each row. Ctrl-C, or an exception from the callable, stops the benchmark and propagates."""
        return self._benchmark_parallel_performance([int(n) for n in test_sizes], int(num_iterations),
                                                    os.fspath(output_path) if output_path else "", progress)

    def close(self) -> None:
        """Shuts down the process pool, if one was started (also done at exit)."""
        self._discard_pool()

    def __del__(self):
        try:
            self._discard_pool()
        except Exception:
            pass

    def __repr__(self):
        return f"ParallelProcessor({self._config!r})"


def enable_parallel_processing(config: ParallelConfig | None = None, **kwargs) -> ParallelProcessor:
    """A ParallelProcessor on the process's default context (the API's helper)."""
    return ParallelProcessor(config, **kwargs)
