#!/usr/bin/env python3
"""Numba ``@njit(cache=True)`` LIF network peer for ``neuroperf bench --suite jit``.

    numba_lif.py --sizes 1000,4000 [--models cuba,coba] [--steps 100] [--seed 42] [--min-time 0.3]

The same fused step as neuroperf's spike processing kernel (include/neuroperf/jit_compiler.hpp):
arrivals added to g, exact CUBA propagators (or COBA exponential Euler), threshold, reset,
refractory counter, spike list, CSR propagation into the arrival buffer; float32 throughout with
the constants computed in float64 and rounded, exactly as neuroperf does. Rows (Google Benchmark
JSON on stdout):

    spike_processing/numba/N=<n>/model=<cuba|coba>/dtype=float32   one call = --steps steps
    spike_processing/numba_vec/...       the step written to vectorise (selects, no spike list
                                         in the update loop; the same spikes, checked)
    spike_processing/numba_fastmath/...  the same with fastmath=True
    compile/numba/kernel=spike_processing_cuba   compiling the step function (a new dispatcher;
                                                 one function serves both models)
    load/numba/kernel=spike_processing_cuba/from=disk   a new process loading it from Numba's
                                                 cache (numba already imported; import time in label)
    call/numba/N=10/model=cuba/steps=1/from=python   the dispatcher called for one step of a 10-neuron
                                                 network, compiled and warm (per-call overhead)

Network (apps/neuroperf/suite_jit.cpp documents the same recipe):
    h(stream, i) = splitmix64(seed ^ (stream << 48) ^ i),  unit = (h >> 11) * 2**-53
    k = max(1, round(0.02*N)) synapses per source, synapse j of source i -> column
    j*(N//k) + h(1, i*k+j) % (N//k); weight 1.62 / -9 (CUBA) or 0.6 / 6.7 (COBA), the first
    0.8*N sources excitatory; v0 = -60 + 10*unit(h(3, i)); COBA starts at g_e = 4, g_i = 5.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def add_args(parser) -> None:
    parser.add_argument("--models", type=lambda s: s.split(","), default=["cuba"], help="cuba,coba")
    parser.add_argument("--steps", type=int, default=100, help="time steps per timed call")
    parser.add_argument("--load-child", action="store_true", help=argparse_hidden())


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


_splitmix64 = peerlib.splitmix64  # the suites' counter hash (include/neuroperf/hash_random.hpp)


def network(np, n: int, model: str, seed: int):
    with np.errstate(over="ignore"):
        k = max(1, int(round(0.02 * n)))
        stride = n // k
        e = np.arange(n * k, dtype=np.uint64)
        j = np.arange(n * k, dtype=np.int64) % k
        off = (_splitmix64(np, np.uint64(seed) ^ (np.uint64(1) << np.uint64(48)) ^ e) % np.uint64(stride)).astype(np.int64)
        col = (j * stride + off).astype(np.int32)
        rp = np.arange(0, n * k + 1, k, dtype=np.int64)
        n_exc = n * 4 // 5
        src = np.arange(n * k) // k
        if model == "cuba":
            w = np.where(src < n_exc, np.float32(1.62), np.float32(-9.0)).astype(np.float32)
        else:
            w = np.where(src < n_exc, np.float32(0.6), np.float32(6.7)).astype(np.float32)
        h = _splitmix64(np, np.uint64(seed) ^ (np.uint64(3) << np.uint64(48)) ^ np.arange(n, dtype=np.uint64))
        v0 = (-60.0 + 10.0 * ((h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53)).astype(np.float32)
    return rp, col, w, v0, n_exc


def constants(np, model: str):
    """As neuroperf's lif_constants: double math, rounded to float32 (Brian2 CUBA/COBA values)."""
    dt, tm, te, ti = 0.1, 20.0, 5.0, 10.0
    v_rest = -49.0 if model == "cuba" else -60.0

    def prop(ts):
        if ts == tm:
            return dt / tm * math.exp(-dt / tm)
        return ts / (ts - tm) * (math.exp(-dt / ts) - math.exp(-dt / tm))

    f = np.float32
    return dict(v_inf=f(v_rest), p_vv=f(math.exp(-dt / tm)), p_ve=f(prop(te)), p_vi=f(prop(ti)),
                p_ee=f(math.exp(-dt / te)), p_ii=f(math.exp(-dt / ti)), a=f(-dt / tm), e_exc=f(0.0),
                e_inh=f(-80.0), vt=f(-50.0), vr=f(-60.0), ref=int(round(5.0 / dt)))


np = None  # numpy, imported by main() after the thread environment is set


def _run(cuba, v, ge, gi, rf, ring_e, ring_i, spikes, rp, col, w, n_exc, steps,
         v_inf, p_vv, p_ve, p_vi, p_ee, p_ii, a, e_exc, e_inh, vt, vr, ref):
    n = v.shape[0]
    total = 0
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for _t in range(steps):
        k = 0
        for i in range(n):
            gei = ge[i] + ring_e[i]
            ring_e[i] = zero
            gii = gi[i] + ring_i[i]
            ring_i[i] = zero
            r = rf[i]
            vi = v[i]
            if cuba:
                vn = v_inf + (vi - v_inf) * p_vv + gei * p_ve + gii * p_vi
            else:
                gt = one + gei + gii
                vinf = (v_inf + gei * e_exc + gii * e_inh) / gt
                vn = vinf + (vi - vinf) * math.exp(a * gt)
            if r > 0:
                rf[i] = r - 1
            elif vn >= vt:
                v[i] = vr
                rf[i] = ref
                spikes[k] = i
                k += 1
            else:
                v[i] = vn
                rf[i] = 0
            ge[i] = gei * p_ee
            gi[i] = gii * p_ii
        for q in range(k):
            j = spikes[q]
            buf = ring_e if j < n_exc else ring_i
            for s in range(rp[j], rp[j + 1]):
                buf[col[s]] += w[s]
        total += k
    return total


def _run_vec(cuba, v, ge, gi, rf, ring_e, ring_i, spikes, rp, col, w, n_exc, steps,
             v_inf, p_vv, p_ve, p_vi, p_ee, p_ii, a, e_exc, e_inh, vt, vr, ref):
    """The same step written so that LLVM can vectorise the neuron update: no branch and no
    spike list inside the update loop (selects, a 0/1 flag per neuron in ``spikes``), then a
    compaction pass and the same propagation. The same operations per neuron as ``_run``."""
    n = v.shape[0]
    total = 0
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for _t in range(steps):
        for i in range(n):
            gei = ge[i] + ring_e[i]
            ring_e[i] = zero
            gii = gi[i] + ring_i[i]
            ring_i[i] = zero
            r = rf[i]
            vi = v[i]
            if cuba:
                vn = v_inf + (vi - v_inf) * p_vv + gei * p_ve + gii * p_vi
            else:
                gt = one + gei + gii
                vinf = (v_inf + gei * e_exc + gii * e_inh) / gt
                vn = vinf + (vi - vinf) * math.exp(a * gt)
            fire = (r <= 0) and (vn >= vt)
            v[i] = vr if fire else (vi if r > 0 else vn)
            rf[i] = ref if fire else max(r - 1, 0)
            spikes[i] = 1 if fire else 0
            ge[i] = gei * p_ee
            gi[i] = gii * p_ii
        k = 0
        for i in range(n):
            if spikes[i]:
                spikes[k] = i
                k += 1
        for q in range(k):
            j = spikes[q]
            buf = ring_e if j < n_exc else ring_i
            for s in range(rp[j], rp[j + 1]):
                buf[col[s]] += w[s]
        total += k
    return total


def define_kernels(njit, cache: bool):
    """The step function (a module-level function: Numba caches only those), via njit(cache=cache)."""
    global np
    import numpy
    np = numpy
    return njit(cache=cache)(_run)


def define_best_kernels(njit, cache: bool):
    """The forms a Numba user at their best writes: the vectorisable step, strict and with
    fastmath=True (reassociation and FMA contraction allowed)."""
    global np
    import numpy
    np = numpy
    return {"numba_vec": njit(cache=cache)(_run_vec), "numba_fastmath": njit(cache=cache, fastmath=True)(_run_vec)}


def _load_child() -> int:
    """Child process of the warm_disk row: time loading the cached kernel (numba imported first)."""
    t0 = time.perf_counter()
    import numba
    import numpy as np  # noqa: F401
    t1 = time.perf_counter()
    f = define_kernels(numba.njit, True)
    f.compile(_signature(numba))
    t2 = time.perf_counter()
    print(f"{t1 - t0} {t2 - t1}")
    return 0


def _signature(numba):
    f32 = numba.float32
    a32 = f32[::1]
    i32 = numba.int32[::1]
    return (numba.boolean, a32, a32, a32, i32, a32, a32, i32, numba.int64[::1], i32, a32, numba.int64,
            numba.int64, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, numba.int64)


def main(argv: list[str] | None = None) -> int:
    args = peerlib.parse_args("Numba LIF peer for neuroperf bench --suite jit", argv, dtypes=None, extra=add_args)
    if args.load_child:
        return _load_child()
    peerlib.setup_threads(args.threads)
    cache_dir = tempfile.mkdtemp(prefix="neuroperf-numba-")
    os.environ["NUMBA_CACHE_DIR"] = cache_dir
    with peerlib.stdout_to_stderr() as out:
        import numba
        import numpy as np

        label = f"numba {numba.__version__} @njit(cache=True), float32"
        rows = []
        # Cold compile: a new dispatcher each time (Numba keeps compiled code per dispatcher).
        times = []
        for _ in range(3):
            f = define_kernels(numba.njit, False)
            t0 = time.perf_counter()
            f.compile(_signature(numba))
            times.append(time.perf_counter() - t0)
        rows.append(_fixed_row("compile/numba/kernel=spike_processing_cuba", times, label))
        # Warm disk: fill the cache, then time new processes loading it.
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = [sys.executable, os.path.abspath(__file__), "--sizes", "1", "--load-child"]
        loads, imports = [], []
        try:
            for i in range(4):
                res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                imp, load = (float(x) for x in res.stdout.split())
                if i > 0:  # the first run fills the cache
                    loads.append(load)
                    imports.append(imp)
            rows.append(_fixed_row("load/numba/kernel=spike_processing_cuba/from=disk", loads,
                                   f"{label}; import numba+numpy {sorted(imports)[len(imports) // 2] * 1e3:.0f} ms not included"))
        except Exception as exc:  # noqa: BLE001
            rows.append(peerlib.failed_case("load/numba/kernel=spike_processing_cuba/from=disk", exc))

        f = define_kernels(numba.njit, True)
        forms = {"numba": f, **define_best_kernels(numba.njit, True)}
        for model in args.models:
            c = constants(np, model)
            for n in args.sizes:
                strict_spikes = None
                rp, col, w, v0, n_exc = network(np, n, model, args.seed)  # read-only: shared by the forms
                for impl, g in forms.items():
                    name = peerlib.bench_name("spike_processing", impl, N=n, model=model, dtype="float32")
                    try:
                        st = {}

                        def run(g=g):
                            v = v0.copy()
                            ge = np.full(n, 4.0 if model == "coba" else 0.0, np.float32)
                            gi = np.full(n, 5.0 if model == "coba" else 0.0, np.float32)
                            re = np.zeros(n, np.float32)
                            ri = np.zeros(n, np.float32)
                            rf = np.zeros(n, np.int32)
                            sp = np.zeros(n, np.int32)
                            st["spikes"] = g(model == "cuba", v, ge, gi, rf, re, ri, sp, rp, col, w, n_exc, args.steps,
                                             c["v_inf"], c["p_vv"], c["p_ve"], c["p_vi"], c["p_ee"], c["p_ii"], c["a"],
                                             c["e_exc"], c["e_inh"], c["vt"], c["vr"], c["ref"])

                        run()
                        if impl == "numba":
                            strict_spikes = st["spikes"]
                        elif impl == "numba_vec" and st["spikes"] != strict_spikes:
                            # the same operations per neuron: the same spikes
                            raise RuntimeError(f"vectorisable form: {st['spikes']} spikes, strict loop {strict_spikes}")
                        timing = peerlib.time_batched(run, min_time=args.min_time)
                    except Exception as exc:  # noqa: BLE001
                        rows.append(peerlib.failed_case(name, exc))
                        continue
                    extra = {"numba": "", "numba_vec": ", vectorisable form", "numba_fastmath": ", vectorisable form, fastmath=True"}[impl]
                    rows.append(peerlib.make_row(name, timing, label=f"{label}{extra}, {args.steps} steps/call, {st['spikes']} spikes"))
                    peerlib.log(f"{name}: {timing.real_time * 1e3:.3f} ms/call")
        # The dispatcher's per-call overhead: one step of a tiny network (ours: call/jit/...).
        rp, col, w, v0, n_exc = network(np, 10, "cuba", args.seed)
        c = constants(np, "cuba")
        arrs = [v0.copy(), np.zeros(10, np.float32), np.zeros(10, np.float32), np.zeros(10, np.int32),
                np.zeros(10, np.float32), np.zeros(10, np.float32), np.zeros(10, np.int32)]
        timing = peerlib.time_batched(lambda: f(True, *arrs, rp, col, w, n_exc, 1, c["v_inf"], c["p_vv"], c["p_ve"],
                                                c["p_vi"], c["p_ee"], c["p_ii"], c["a"], c["e_exc"], c["e_inh"],
                                                c["vt"], c["vr"], c["ref"]), min_time=min(args.min_time, 0.1))
        rows.append(peerlib.make_row("call/numba/N=10/model=cuba/steps=1/from=python", timing, label=f"{label}: call of 1 step"))
        peerlib.emit(rows, out)
    return 0


def _fixed_row(name, seconds, label):
    s = sorted(seconds)
    med = s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])
    t = peerlib.Timing(real_time=med, cpu_time=med, iterations=len(s), batches=len(s), calls_per_batch=1,
                       batch_real_times=list(seconds))
    return peerlib.make_row(name, t, label=label)


if __name__ == "__main__":
    sys.exit(main())
