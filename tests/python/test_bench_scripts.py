"""Tests for the benchmark helper scripts: bench/plot.py and bench/peers/numpy_gemm.py."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
PLOT = BENCH / "plot.py"
NUMPY_GEMM = BENCH / "peers" / "numpy_gemm.py"


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plot_mod():
    return _load_module("neuroperf_bench_plot", PLOT)


def _run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _row(name: str, *, real_time: float = 1000.0, unit: str = "ns", **extra) -> dict:
    row = {"name": name, "run_name": name, "run_type": "iteration", "repetitions": 1,
           "iterations": 10, "real_time": real_time, "cpu_time": real_time,
           "time_unit": unit}
    row.update(extra)
    return row


# --------------------------------------------------------------------------- numpy peer


@pytest.fixture(scope="module")
def numpy_gemm_output():
    proc = _run(NUMPY_GEMM, "--sizes", "2,3", "--dtypes", "float32,float64",
                "--threads", "1", "--min-time", "0.01", "--seed", "42")
    assert proc.returncode == 0, proc.stderr
    return proc


def test_numpy_gemm_stdout_is_one_json_object(numpy_gemm_output):
    doc = json.loads(numpy_gemm_output.stdout)  # fails if anything else is on stdout
    assert set(doc) >= {"benchmarks"}
    assert numpy_gemm_output.stderr  # diagnostics went to stderr


def test_numpy_gemm_rows(numpy_gemm_output):
    rows = json.loads(numpy_gemm_output.stdout)["benchmarks"]
    assert [r["name"] for r in rows] == [
        "sgemm/numpy/n=2/threads=1", "sgemm/numpy/n=3/threads=1",
        "dgemm/numpy/n=2/threads=1", "dgemm/numpy/n=3/threads=1",
    ]
    for r in rows:
        assert r["run_name"] == r["name"]
        assert r["run_type"] == "iteration"
        assert r["time_unit"] == "ns"
        assert not r.get("error_occurred", False)
        assert r["iterations"] >= 5 and r["repetitions"] >= 1
        assert r["real_time"] > 0 and r["cpu_time"] > 0
        assert r["label"].startswith("numpy ")
        n = int(r["name"].split("n=")[1].split("/")[0])
        expected = 2 * n ** 3 / (r["real_time"] * 1e-9) / 1e9
        assert r["GFLOPS"] == pytest.approx(expected, rel=1e-9)
        assert math.isfinite(r["GFLOPS"]) and r["GFLOPS"] > 0


def test_numpy_gemm_inputs_dir(tmp_path):
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    for which in ("a", "b"):
        np.save(tmp_path / f"{which}_4_float64.npy", rng.standard_normal((4, 4)))
    proc = _run(NUMPY_GEMM, "--sizes", "4", "--dtypes", "float64", "--min-time", "0.005",
                "--inputs-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["benchmarks"]
    assert row["name"] == "dgemm/numpy/n=4/threads=1" and row["real_time"] > 0

    # a missing input file becomes an error row, stdout stays valid JSON
    proc = _run(NUMPY_GEMM, "--sizes", "5", "--dtypes", "float64", "--min-time", "0.005",
                "--inputs-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["benchmarks"]
    assert row["error_occurred"] is True and "a_5_float64.npy" in row["error_message"]


def test_numpy_gemm_rejects_bad_arguments():
    proc = _run(NUMPY_GEMM, "--sizes", "0,-1")
    assert proc.returncode != 0 and proc.stdout == ""
    proc = _run(NUMPY_GEMM, "--sizes", "2", "--dtypes", "int8")
    assert proc.returncode != 0 and proc.stdout == "" and "int8" in proc.stderr


def test_peerlib_timer_batches_tiny_calls():
    peerlib = _load_module("neuroperf_peerlib", BENCH / "peers" / "peerlib.py")
    calls = []
    timing = peerlib.time_batched(lambda: calls.append(1), min_time=0.005,
                                  target_batch_time=1e-3)
    assert timing.batches >= 5
    assert timing.calls_per_batch > 1  # a no-op needs many calls per 1 ms batch
    assert timing.iterations == timing.batches * timing.calls_per_batch
    assert len(calls) >= timing.iterations  # plus calibration/warm-up calls
    assert 0 < timing.real_time < 1e-3


# --------------------------------------------------------------------------- plot.py


def _quick_suite() -> dict:
    rows = []
    for op in ("sgemm", "dgemm"):
        for impl in ("auto", "openblas", "numpy"):
            for threads in (1, 2):
                for n in (8, 16, 64):
                    g = {"auto": 50, "openblas": 45, "numpy": 30}[impl] * threads * n / (n + 16)
                    rows.append(_row(f"{op}/{impl}/n={n}/threads={threads}",
                                     real_time=2 * n ** 3 / g, GFLOPS=g))
    rows.append(_row("sgemm/blis/n=8/threads=1", error_occurred=True,
                     error_message="backend not available"))
    rows.append(_row("lif/auto/neurons=1000", real_time=3.0, unit="ms"))  # single x point
    rows.append(_row("lif/brian2_numpy/neurons=1000", real_time=40.0, unit="ms"))
    return {"context": {"host_name": "testhost", "date": "2025-01-01", "num_cpus": 2},
            "benchmarks": rows}


def test_plot_writes_png_and_svg(tmp_path):
    results = tmp_path / "quick.json"
    results.write_text(json.dumps(_quick_suite()))
    proc = _run(PLOT, results)
    assert proc.returncode == 0, proc.stderr
    for ext in ("png", "svg"):
        out = tmp_path / f"quick.{ext}"
        assert out.is_file() and out.stat().st_size > 1000
    assert (tmp_path / "quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (tmp_path / "quick.svg").read_text()
    assert "sgemm/blis/n=8/threads=1" in proc.stderr  # error row noted
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_plot_out_prefix_and_title(tmp_path):
    results = tmp_path / "r.json"
    results.write_text(json.dumps(_quick_suite()))
    prefix = tmp_path / "plots" / "fig"
    proc = _run(PLOT, results, "--out-prefix", prefix, "--title", "my title")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plots" / "fig.png").stat().st_size > 0
    svg = (tmp_path / "plots" / "fig.svg").read_text()
    assert "my title" in svg


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"context": {}}),
    json.dumps({"benchmarks": []}),
    json.dumps({"benchmarks": [_row("sgemm/auto/n=8", error_occurred=True)]}),
    json.dumps({"benchmarks": [{"name": "x/auto/n=8", "run_type": "aggregate",
                                "aggregate_name": "stddev", "real_time": 1,
                                "time_unit": "ns"}]}),
])
def test_plot_fails_without_plottable_rows(tmp_path, content):
    results = tmp_path / "bad.json"
    results.write_text(content)
    proc = _run(PLOT, results)
    assert proc.returncode != 0
    assert "plot.py: error:" in proc.stderr
    assert not (tmp_path / "bad.png").exists() and not (tmp_path / "bad.svg").exists()


def test_plot_missing_file(tmp_path):
    proc = _run(PLOT, tmp_path / "missing.json")
    assert proc.returncode != 0 and "cannot read" in proc.stderr


def test_plot_prefers_median_aggregate(plot_mod):
    name = "sgemm/auto/n=64/threads=1"
    rows = [
        _row(name, GFLOPS=10.0, repetition_index=0),
        _row(name, GFLOPS=30.0, repetition_index=1),
        _row(name, GFLOPS=90.0, repetition_index=2),
        dict(_row(name + "_mean", GFLOPS=43.3), run_name=name, run_type="aggregate",
             aggregate_name="mean"),
        dict(_row(name + "_median", GFLOPS=31.0), run_name=name, run_type="aggregate",
             aggregate_name="median"),
        dict(_row(name + "_stddev", GFLOPS=40.0), run_name=name, run_type="aggregate",
             aggregate_name="stddev"),
    ]
    selected, errors = plot_mod.select_rows(rows)
    assert errors == []
    assert len(selected) == 1 and selected[0]["GFLOPS"] == 31.0

    # without a median aggregate, the median of the repetitions is used
    selected, _ = plot_mod.select_rows(rows[:3])
    assert len(selected) == 1 and selected[0]["GFLOPS"] == 30.0


def test_plot_panels_and_x_axis(plot_mod):
    rows, errors = plot_mod.select_rows(_quick_suite()["benchmarks"])
    assert errors == ["sgemm/blis/n=8/threads=1: backend not available"]
    points, dropped = plot_mod.to_points(rows)
    assert dropped == []
    panels = plot_mod.build_panels(points)
    titles = [p.title for p in panels]
    assert titles == ["sgemm (threads=1)", "sgemm (threads=2)", "dgemm (threads=1)",
                      "dgemm (threads=2)", "lif"]
    gemm = panels[0]
    assert gemm.x_param == "n" and gemm.metric == "GFLOPS"
    assert list(gemm.series) == ["auto", "openblas", "numpy"]
    assert [x for x, _ in gemm.series["auto"]] == [8, 16, 64]
    lif = panels[-1]
    assert lif.metric == "real_time" and lif.x_param == "neurons"
    assert lif.series["auto"] == [(1000.0, pytest.approx(3e-3))]


def test_plot_name_parsing(plot_mod):
    assert plot_mod.parse_name("sgemm/auto/n=256/threads=1") == (
        "sgemm", "auto", {"n": "256", "threads": "1"})
    op, impl, params = plot_mod.parse_name("BM_gemm/256/real_time")
    assert (op, impl, dict(params)) == ("BM_gemm", "default", {"arg0": "256"})
    assert plot_mod.is_peer("numpy") and plot_mod.is_peer("scipy_blas")
    assert plot_mod.is_peer("brian2_cpp") and plot_mod.is_peer("reservoirpy")
    assert not plot_mod.is_peer("auto") and not plot_mod.is_peer("openblas")
