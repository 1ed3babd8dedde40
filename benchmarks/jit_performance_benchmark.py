"""JIT benchmark (the API's benchmarks/jit_performance_benchmark.py), on neuroperf.

From Python: cold compile time of a kernel (a fresh cache), warm load from the disk cache in a new
process, in-process lookup, and the compiled kernels against the ahead-of-time (AOT) kernels and
against Numba @njit(cache=True) versions of the same loops (when Numba is installed), on the same
inputs. Writes results/jit_performance.json and a plot.

    python benchmarks/jit_performance_benchmark.py [--quick] [--out DIR] [--repeat N]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_row as row, machine, median_time, plot_speedups, write_json  # noqa: E402

import neuroperf as npf  # noqa: E402


LOAD = ("import time, json, sys; t = time.perf_counter(); import neuroperf as npf; t_import = time.perf_counter() - t;"
        "jit = npf.enable_jit_compilation(); t = time.perf_counter();"
        "k = jit.compile_spike_processing_kernel(num_neurons=int(sys.argv[1]));"
        "print(json.dumps([time.perf_counter() - t, t_import, k.is_compiled]))")

NUMBA_LIF = '''
import numpy as np
from numba import njit

@njit(cache=True, fastmath=False)
def lif_step(v, ge, gi, refr, ring_e, ring_i, indptr, indices, data, n_exc, pv, pe, pi, gev, giv, ve, ee, ei,
             v_th, v_reset, refr_steps):
    n = v.shape[0]
    fired = np.empty(n, np.int32)
    nf = 0
    for j in range(n):
        ge[j] += ring_e[j]; ring_e[j] = 0.0
        gi[j] += ring_i[j]; ring_i[j] = 0.0
        if refr[j] > 0:
            refr[j] -= 1
        else:
            v[j] = ve + (v[j] - ve) * pv + ge[j] * gev + gi[j] * giv
        ge[j] *= pe
        gi[j] *= pi
        if refr[j] == 0 and v[j] >= v_th:
            v[j] = v_reset
            refr[j] = refr_steps
            fired[nf] = j
            nf += 1
    for s in range(nf):
        j = fired[s]
        ring = ring_e if j < n_exc else ring_i
        for p in range(indptr[j], indptr[j + 1]):
            ring[indices[p]] += data[p]
    return nf
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 7)
    sizes = [1000] if args.quick else [1000, 4000, 16000]
    rows: list[dict] = []
    jit = npf.enable_jit_compilation()
    aot = npf.JITCompiler(enable_jit=False)
    print(f"neuroperf {npf.__version__}, compiler {jit.compiler_description or 'none'}; median of {repeat}")

    # Compile and load times (a private cache directory: a true cold start).
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NEUROPERF_CACHE_DIR=cache)
        cold = json.loads(subprocess.run([sys.executable, "-c", LOAD, "777"], capture_output=True, text=True,
                                         env=env, check=True).stdout)
        warm = [json.loads(subprocess.run([sys.executable, "-c", LOAD, "777"], capture_output=True, text=True,
                                          env=env, check=True).stdout) for _ in range(repeat)]
    t_warm = float(np.median([w[0] for w in warm]))
    k = jit.compile_spike_processing_kernel(num_neurons=777)
    t_mem = median_time(lambda: jit.compile_spike_processing_kernel(num_neurons=777), repeat, 0.01)
    print(f"  compile cold {cold[0] * 1e3:.1f} ms, load warm (new process) {t_warm * 1e3:.3f} ms, "
          f"in-process lookup {t_mem * 1e6:.2f} us, import neuroperf {cold[1] * 1e3:.0f} ms")
    compile_rows = {"compile/spike_processing/cold": cold[0], "load/spike_processing/warm_disk": t_warm,
                    "load/spike_processing/warm_memory": t_mem}

    numba_step = None
    try:
        import numba  # noqa: F401

        mod_dir = Path(tempfile.gettempdir()) / "neuroperf_numba_bench"
        mod_dir.mkdir(exist_ok=True)
        (mod_dir / "np_numba_lif.py").write_text(NUMBA_LIF)
        sys.path.insert(0, str(mod_dir))  # a real module: numba's on-disk cache finds it again
        import np_numba_lif

        numba_step = np_numba_lif.lif_step
    except ImportError:
        print("  numba not installed (scripts/setup --with-peers): no numba rows")

    # Kernel speed: the CUBA network step (4:1 exc:inh, p such that each neuron has ~80 synapses).
    for n in sizes:
        n_exc = n * 4 // 5
        w = sp.random(n, n, density=min(1.0, 80 / n), format="csr", random_state=1, dtype=np.float32)
        w.data[:] = 0.5
        w = (sp.diags(np.where(np.arange(n) < n_exc, 1.62, -9.0).astype(np.float32)) @ w).tocsr()
        wc = npf.CsrMatrix.from_scipy(w)
        spec = dict(num_neurons=n, exc_count=n_exc, v_rest=-49.0)
        kj, ka = jit.compile_spike_processing_kernel(**spec), aot.compile_spike_processing_kernel(**spec)
        v0 = np.random.default_rng(2).uniform(-60, -50, n)

        def runner(kernel):
            st = kernel.new_state(v0=v0)
            counter = [0]

            def step():
                kernel.step(st["v"], st["g_e"], st["g_i"], st["refractory"], st["ring_e"], st["ring_i"], wc,
                            counter[0])
                counter[0] += 1
            return step

        t_j = median_time(runner(kj), repeat, 0.05)
        row(rows, f"spike_processing/N={n}", t_j, "aot", median_time(runner(ka), repeat, 0.05))
        if numba_step is not None:
            dt, tau_m, tau_e, tau_i = 0.1, 20.0, 5.0, 10.0
            pv = np.exp(-dt / tau_m)
            pe, pi = np.exp(-dt / tau_e), np.exp(-dt / tau_i)
            gev = tau_e / (tau_e - tau_m) * (pe - pv)
            giv = tau_i / (tau_i - tau_m) * (pi - pv)
            st = {"v": v0.astype(np.float32), "ge": np.zeros(n, np.float32), "gi": np.zeros(n, np.float32),
                  "refr": np.zeros(n, np.int32), "re": np.zeros(n, np.float32), "ri": np.zeros(n, np.float32)}
            args_n = (st["v"], st["ge"], st["gi"], st["refr"], st["re"], st["ri"], w.indptr, w.indices, w.data,
                      n_exc, np.float32(pv), np.float32(pe), np.float32(pi), np.float32(gev), np.float32(giv),
                      np.float32(-49.0), 0.0, 0.0, np.float32(-50.0), np.float32(-60.0), 50)
            numba_step(*args_n)
            row(rows, f"spike_processing/N={n}", t_j, "numba", median_time(lambda: numba_step(*args_n), repeat, 0.05))

    # FIR convolution: compiled (strict and fast-math) against AOT and np.convolve.
    fast = npf.JITCompiler(enable_fastmath=True)
    for k_taps in ([16] if args.quick else [16, 64]):
        taps = np.random.default_rng(3).standard_normal(k_taps)
        x = np.random.default_rng(4).standard_normal(100_000)
        kj = jit.compile_convolution_kernel(taps, x.size, "same")
        kf = fast.compile_convolution_kernel(taps, x.size, "same")
        ka = aot.compile_convolution_kernel(taps, x.size, "same")
        t_j = median_time(lambda: kj(x), repeat, 0.05)
        row(rows, f"fir/k={k_taps}/n=100000", t_j, "aot", median_time(lambda: ka(x), repeat, 0.05))
        row(rows, f"fir_fastmath/k={k_taps}/n=100000", median_time(lambda: kf(x), repeat, 0.05), "aot",
            median_time(lambda: ka(x), repeat, 0.05))
        row(rows, f"fir/k={k_taps}/n=100000", t_j, "np.convolve",
            median_time(lambda: np.convolve(x, taps, "same"), repeat, 0.05))

    data = {"machine": machine(), "repeat": repeat, "neuroperf": npf.__version__,
            "compiler": jit.compiler_description, "compile": compile_rows, "results": rows}
    out = args.out / "jit_performance.json"
    write_json(out, data)
    plot_speedups(rows, out.with_suffix(".png"), "neuroperf JITCompiler from Python")
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
