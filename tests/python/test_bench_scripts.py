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
        f"{op}/{impl}/n={n}/threads=1" for op in ("sgemm", "dgemm") for n in (2, 3)
        for impl in ("numpy", "numpy_out")
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
    rows = json.loads(proc.stdout)["benchmarks"]
    assert [r["name"] for r in rows] == ["dgemm/numpy/n=4/threads=1", "dgemm/numpy_out/n=4/threads=1"]
    assert all(r["real_time"] > 0 for r in rows)

    # a missing input file becomes an error row, stdout stays valid JSON
    proc = _run(NUMPY_GEMM, "--sizes", "5", "--dtypes", "float64", "--min-time", "0.005",
                "--inputs-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["benchmarks"]
    assert len(rows) == 2
    assert all(r["error_occurred"] is True and "a_5_float64.npy" in r["error_message"] for r in rows)


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


# --------------------------------------------------------------------------- conv peer

SCIPY_CONV = BENCH / "peers" / "scipy_conv.py"


def test_scipy_conv_inputs_follow_the_published_splitmix64():
    # The suite (apps/neuroperf/suite_conv.cpp) draws spike (c, t) iff
    # hash_to_unit(splitmix64(seed ^ 2^48 ^ (c*steps + t))) < p; the C++ splitmix64 is pinned to
    # the same published vector (HashRandom.SplitmixPublishedVector).
    np = pytest.importorskip("numpy")
    mod = _load_module("neuroperf_scipy_conv", SCIPY_CONV)
    with np.errstate(over="ignore"):
        assert int(mod._splitmix64(np, np.uint64(0))) == 0xE220A8397B1DCDAF
        assert int(mod._splitmix64(np, np.uint64(0x9E3779B97F4A7C15))) == 0x6E789E6AA1B965F4

    def reference(channels, steps, p, seed):  # plain Python integers, independent of numpy
        mask = (1 << 64) - 1

        def sm(z):
            z = (z + 0x9E3779B97F4A7C15) & mask
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            return z ^ (z >> 31)

        key = seed ^ (1 << 48)
        return [[1.0 if (sm(key ^ (c * steps + t)) >> 11) * 2.0 ** -53 < p else 0.0 for t in range(steps)]
                for c in range(channels)]

    x = mod.spike_inputs(np, 3, 50, 0.2, 42, "float32")
    assert x.shape == (3, 50) and x.dtype == np.float32
    assert x.tolist() == reference(3, 50, 0.2, 42)


def test_scipy_conv_rows_name_the_threads_each_peer_uses():
    pytest.importorskip("scipy")
    proc = _run(SCIPY_CONV, "--sizes", "64", "--channels", "3", "--p", "0.2", "--dtypes", "float32",
                "--kernels", "fir100", "--threads", "2", "--min-time", "0", "--seed", "42")
    assert proc.returncode == 0, proc.stderr
    names = {r["name"] for r in json.loads(proc.stdout)["benchmarks"]}
    tail = "channels=3/steps=64/kernel=fir100/p=0.2/dtype=float32"
    assert names == {f"conv/np_convolve/{tail}/threads=1", f"conv/scipy_lfilter/{tail}/threads=1",
                     f"conv/scipy_fftconvolve/{tail}/threads=2"}
    only = _run(SCIPY_CONV, "--sizes", "64", "--channels", "3", "--p", "0.2", "--dtypes", "float32",
                "--kernels", "fir100", "--threads", "2", "--min-time", "0", "--impls", "scipy_fftconvolve")
    assert only.returncode == 0, only.stderr
    assert [r["name"] for r in json.loads(only.stdout)["benchmarks"]] == [f"conv/scipy_fftconvolve/{tail}/threads=2"]
    bad = _run(SCIPY_CONV, "--sizes", "64", "--channels", "3", "--p", "0.2", "--impls", "fftw")
    assert bad.returncode == 2 and "--impls" in bad.stderr and "fftw" in bad.stderr


def test_brian2_peer_reports_an_import_failure_as_an_error_row_on_stdout(tmp_path):
    # A brian2 that cannot be imported (a stand-in package raising on import) must give one JSON
    # error row on stdout, with the reason, not a bare failure.
    fake = tmp_path / "brian2"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('stand-in brian2 for the test')\n")
    proc = subprocess.run([sys.executable, str(BENCH / "peers" / "brian2_cuba.py"), "--sizes", "4000", "--quick"], capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["benchmarks"]
    assert row["error_occurred"] is True and "stand-in brian2" in row["error_message"]


# --------------------------------------------------------------------------- peers' inputs
#
# Every peer draws the inputs of the suite it stands beside. The references below are the
# suites' recipes (the comments at the top of apps/neuroperf/suite_*.cpp and bench_suites.cpp)
# written in plain Python integers, independent of numpy and of the peers' code; the C++
# splitmix64 is pinned to the same published vector (HashRandom.SplitmixPublishedVector).

PEERS = BENCH / "peers"
_MASK = (1 << 64) - 1


def _sm(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _unit(h: int) -> float:
    return (h >> 11) * 2.0 ** -53


def _h(seed: int, stream: int, i: int) -> int:
    return _sm(seed ^ (stream << 48) ^ i)


def _peer(name: str):
    sys.path.insert(0, str(PEERS))
    return _load_module(f"neuroperf_peer_{name}", PEERS / f"{name}.py")


def test_peerlib_counter_unit_matches_the_recipe():
    np = pytest.importorskip("numpy")
    peerlib = _peer("peerlib")
    got = peerlib.counter_unit(np, 42, 3, 20)
    assert got.dtype == np.float64 and got.tolist() == [_unit(_h(42, 3, i)) for i in range(20)]


def test_numpy_gemm_inputs_equal_the_gemm_suite():  # apps/neuroperf/bench_suites.cpp gemm_inputs
    np = pytest.importorskip("numpy")
    mod = _peer("numpy_gemm")
    for dtype in ("float32", "float64"):
        a, b = mod._inputs(np, 5, dtype, 42, None)
        assert a.shape == b.shape == (5, 5) and a.dtype == b.dtype == np.dtype(dtype) and a.flags.c_contiguous
        for m, stream in ((a, 1), (b, 2)):
            ref = np.array([2 * _unit(_h(42, stream, i)) - 1 for i in range(25)]).astype(dtype).reshape(5, 5)
            np.testing.assert_array_equal(m, ref)


def test_numpy_batch_inputs_equal_the_batch_suite():  # apps/neuroperf/suite_batch.cpp batch_inputs
    np = pytest.importorskip("numpy")
    mod = _peer("numpy_batch")
    spikes, w = mod._inputs(np, 7, 3, 0.3, 42)
    assert spikes.shape == (3, 7) and w.shape == (7, 7) and spikes.dtype == w.dtype == np.float32
    np.testing.assert_array_equal(w, np.array([2 * _unit(_h(42, 1, i)) - 1 for i in range(49)], np.float32).reshape(7, 7))
    ref = [1.0 if _unit(_h(42, 2, i)) < 0.3 else 0.0 for i in range(21)]
    assert spikes.ravel().tolist() == ref and 0 < sum(ref) < 21


def test_esn_peer_inputs_equal_the_reservoir_suite():  # apps/neuroperf/suite_reservoir.cpp esn_inputs
    np = pytest.importorskip("numpy")
    mod = _peer("scipy_esn")  # reservoirpy_esn.py imports the same esn_inputs
    n, d, dim, steps, seed = 11, 0.3, 2, 3, 42
    indptr, indices, values, w_in, u = mod.esn_inputs(np, n, d, dim, steps, seed)
    k = max(1, round(d * n))
    stride = n // k
    assert indptr.tolist() == [i * k for i in range(n + 1)]
    sym = lambda s, i: 2 * _unit(_h(seed, s, i)) - 1  # noqa: E731
    assert indices.tolist() == [(e % k) * stride + _h(seed, 1, e) % stride for e in range(n * k)]
    np.testing.assert_array_equal(values, np.array([sym(2, e) * (1.0 / k ** 0.5) for e in range(n * k)], np.float32))
    np.testing.assert_array_equal(w_in, np.array([sym(3, i) * 0.5 for i in range(n * dim)], np.float32).reshape(n, dim))
    np.testing.assert_array_equal(u, np.array([sym(4, i) for i in range(steps * dim)], np.float32).reshape(steps, dim))


def test_eigen_peer_inputs_equal_the_eigen_suite():  # apps/neuroperf/suite_eigen.cpp
    np = pytest.importorskip("numpy")
    sp = pytest.importorskip("scipy.sparse")
    mod = _peer("scipy_eigen")
    n, density, seed = 9, 0.25, 42
    a = mod._reservoir(np, sp, n, density, seed).toarray()
    ref = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            h = _sm((seed << 40) + i * n + j)
            if _unit(h) < density:
                ref[i, j] = 2 * _unit(_sm(h)) - 1
    np.testing.assert_array_equal(a, ref)
    assert np.count_nonzero(ref) > 0
    dense = mod._dense(np, 4, seed)
    np.testing.assert_array_equal(dense, np.array([2 * _unit(_sm(_sm((seed << 40) + k))) - 1 for k in range(16)]).reshape(4, 4))


def test_numba_peer_inputs_equal_the_jit_suite():  # apps/neuroperf/suite_jit.cpp
    np = pytest.importorskip("numpy")
    seed = 42
    res = _peer("numba_reservoir").inputs(np, 4, np.float64, seed)
    got = dict(zip(("x", "w_in", "w", "u", "b"), res))
    n, dim = 4, 10
    u_ = lambda s, i: _unit(_h(seed, s, i))  # noqa: E731
    np.testing.assert_array_equal(got["w"], np.array([(2 * u_(6, i) - 1) * (1.0 / 2.0) for i in range(16)]).reshape(4, 4))
    np.testing.assert_array_equal(got["w_in"], np.array([2 * u_(7, i) - 1 for i in range(n * dim)]).reshape(n, dim))
    np.testing.assert_array_equal(got["x"], np.array([u_(8, i) - 0.5 for i in range(n)]))
    np.testing.assert_array_equal(got["b"], np.array([0.1 * u_(9, i) for i in range(n)]))
    np.testing.assert_array_equal(got["u"], np.array([u_(10, i) for i in range(dim)]))

    x = _peer("numba_conv").unit(np, seed, 5, 12)
    assert x.tolist() == [u_(5, i) for i in range(12)]

    rp, col, w, v0, n_exc = _peer("numba_lif").network(np, 20, "cuba", seed)
    k, stride = 1, 20  # max(1, round(0.02 * 20)) synapses per source
    assert rp.tolist() == list(range(21)) and n_exc == 16
    assert col.tolist() == [j * stride + _h(seed, 1, i * k + j) % stride for i in range(20) for j in range(k)]
    assert w.tolist() == [np.float32(1.62) if i < 16 else -9.0 for i in range(20)]
    np.testing.assert_array_equal(v0, np.array([-60 + 10 * u_(3, i) for i in range(20)], np.float32))


# Each peer script in a small quick run: one JSON object on stdout, the expected rows, none an
# error (a peer whose package is missing is skipped; scripts/setup --with-peers installs them).
_PEER_RUNS = {
    "numpy_batch": (("numpy",), ["--sizes", "40", "--batches", "1,3", "--densities", "0.1", "--min-time", "0"],
                    {"batch/numpy/B=1/N=40/M=40/density=0.1/threads=1", "batch/scipy_csr/B=3/N=40/M=40/density=0.1/threads=1"}),
    "numpy_elementwise": (("numpy",), ["--sizes", "100", "--min-time", "0"], None),
    "scipy_esn": (("scipy",), ["--sizes", "50", "--density", "0.1", "--steps", "3", "--input-dim", "2", "--min-time", "0"],
                  {"reservoir/scipy/N=50/density=0.1/threads=1"}),
    "reservoirpy_esn": (("reservoirpy",), ["--sizes", "50", "--density", "0.1", "--steps", "3", "--input-dim", "2",
                                           "--min-time", "0"], {"reservoir/reservoirpy/N=50/density=0.1/threads=1"}),
    "scipy_eigen": (("scipy",), ["--sizes", "20", "--sparse", "200:0.05", "--min-time", "0", "--ncv", "20"], None),
    "numba_lif": (("numba",), ["--sizes", "50", "--steps", "3", "--min-time", "0"],
                  {f"spike_processing/{f}/N=50/model=cuba/dtype=float32" for f in ("numba", "numba_vec", "numba_fastmath")}),
    "numba_conv": (("numba",), ["--sizes", "4", "--signal", "100", "--min-time", "0"],
                   {"convolution/numba/n=100/k=4/mode=valid/dtype=float32", "compile/numba/kernel=convolution_f32"}),
    "numba_reservoir": (("numba",), ["--sizes", "20", "--dtypes", "float32", "--min-time", "0"],
                        {"reservoir/numba_dot/N=20/D=10/dtype=float32", "compile/numba/kernel=reservoir_f64"}),
}


@pytest.mark.parametrize("peer", sorted(_PEER_RUNS))
def test_peer_script_runs_in_quick_mode(peer):
    modules, args, expected = _PEER_RUNS[peer]
    for m in modules:
        pytest.importorskip(m)
    proc = _run(PEERS / f"{peer}.py", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["benchmarks"]
    assert rows, proc.stderr
    errors = [(r["name"], r.get("error_message")) for r in rows if r.get("error_occurred")]
    assert not errors, errors
    names = {r["name"] for r in rows}
    if expected is not None:
        assert expected <= names, sorted(names)
    for r in rows:
        assert r["real_time"] > 0 and math.isfinite(r["real_time"]), r


def test_numpy_elementwise_inputs_equal_the_elementwise_suite():  # apps/neuroperf/suite_elementwise.cpp inputs
    np = pytest.importorskip("numpy")
    mod = _peer("numpy_elementwise")
    for fn, lo in (("tanh", -5.0), ("exp", -20.0)):
        ref = []
        for i in range(50):
            f = i * 0.6180339887498949
            ref.append(lo + (-lo - lo) * (f - math.floor(f)))
        for dtype in ("float64", "float32"):
            np.testing.assert_array_equal(mod.inputs(np, 50, fn, dtype), np.array(ref).astype(dtype))
