#!/usr/bin/env python3
"""Brian2 peer for ``neuroperf bench --suite snn``: the CUBA network of Brian2's examples/CUBA.py.

    brian2_cuba.py [--threads T] [--durations 1,10] [--quick] [--dtypes float64,float32]
                   [--repetitions 3]

The network (as apps/neuroperf/suite_snn.cpp / neuroperf::add_vogels_abbott): 4000 LIF neurons,
3200 excitatory / 800 inhibitory, p = 0.02 (40,000 neurons: p = 0.002), tau_m 20 ms, V_th -50,
V_r -60, E_L -49 mV, tau_e 5, tau_i 10 ms, w_e 1.62, w_i -9 mV, refractory 5 ms, dt 0.1 ms,
v0 uniform in [V_r, V_th], method 'exact', a SpikeMonitor on all neurons. Each row at each
precision of --dtypes (Brian2's ``prefs.core.default_float_dtype``: float64 is its default,
float32 the precision of neuroperf's state). Rows:

    cuba/brian2_runtime/neurons=N/duration=Ds/dtype=P/threads=1      Cython runtime: run() wall
                                                             time, after a warm-up run (Cython
                                                             compiled); 4000 neurons at every
                                                             duration and 40,000 neurons (0.2 s
                                                             with --quick)
    cuba/brian2_standalone/neurons=N/duration=Ds/dtype=P/threads=T   cpp_standalone: the
                                                             simulation loop (sum of the profiled
                                                             code objects, synapse creation
                                                             excluded)
    compile/brian2_standalone/neurons=N/duration=Ds/dtype=P/threads=T  code generation +
                                                             compilation (device.build wall time
                                                             - binary run; one build)

Each timed row is the median of --repetitions runs (the suite passes its own repetition count),
with the spread in real_time_min/max and cv: the runtime network keeps running from run to run
(stationary, as neuroperf's rows), the standalone binary is run again (the same simulation).
Counters: rate_hz (mean rate), events_per_second (synaptic events / loop time).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


def import_brian2():
    """Import brian2; Brian2 2.9 reads ``numpy.ndarray.ptp``, removed in numpy 2.4: when that is
    the failure, load brian2.units.fundamentalunits from its source with ``np.ptp`` instead (the
    same function) and import again. Nothing on disk is changed."""
    try:
        import brian2
        return brian2
    except AttributeError as e:
        if "ptp" not in str(e):
            raise
    import importlib.abc
    import importlib.util

    for name in [m for m in sys.modules if m == "brian2" or m.startswith("brian2.")]:
        del sys.modules[name]

    class Patch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        target = "brian2.units.fundamentalunits"

        def find_spec(self, fullname, path, target=None):
            if fullname != self.target:
                return None
            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(fullname)
            finally:
                sys.meta_path.insert(0, self)
            self.origin = spec.origin
            return importlib.util.spec_from_file_location(fullname, spec.origin, loader=self)

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            with open(self.origin, encoding="utf-8") as f:
                src = f.read().replace("np.ndarray.ptp", "np.ptp")
            exec(compile(src, self.origin, "exec"), module.__dict__)

    sys.meta_path.insert(0, Patch())
    import brian2
    return brian2


def build(b2, n: int, p: float, seed: int):
    from brian2 import NeuronGroup, Synapses, SpikeMonitor, ms, mV, seed as b2seed
    b2seed(seed)
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    ns = {"taum": 20 * ms, "taue": 5 * ms, "taui": 10 * ms, "Vt": -50 * mV, "Vr": -60 * mV, "El": -49 * mV}
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns)
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    ne = n * 4 // 5
    Ce = Synapses(P, P, on_pre="ge += 1.62*mV")
    Ci = Synapses(P, P, on_pre="gi += -9*mV")
    Ce.connect(f"i<{ne}", p=p)
    Ci.connect(f"i>={ne}", p=p)
    mon = SpikeMonitor(P)
    return P, Ce, Ci, mon


def events(mon, Ce, Ci, ne: int, n: int):
    import numpy as np
    i = np.asarray(mon.i[:])
    oute = np.bincount(np.asarray(Ce.i[:]), minlength=n)
    outi = np.bincount(np.asarray(Ci.i[:]), minlength=n)
    return float(oute[i].sum() + outi[i].sum())


def set_precision(b2, dtype: str) -> None:
    import numpy as np
    b2.prefs.core.default_float_dtype = {"float64": np.float64, "float32": np.float32}[dtype]


def runtime_row(n, p, dur_s, seed, dtype, repetitions):
    b2 = import_brian2()
    b2.set_device("runtime")
    b2.prefs.codegen.target = "cython"
    set_precision(b2, dtype)
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    P, Ce, Ci, mon = build(b2, n, p, seed)
    net = b2.Network(P, Ce, Ci, mon)
    net.run(10 * b2.ms)  # Cython compile / cache load outside the timing
    loops, spikes = [], []
    for _ in range(repetitions):
        before = mon.num_spikes
        t0 = time.perf_counter()
        net.run(dur_s * b2.second)
        loops.append(time.perf_counter() - t0)
        spikes.append(mon.num_spikes - before)
    rate = spikes[-1] / n / dur_s
    ev = events(mon, Ce, Ci, n * 4 // 5, n)  # over the whole run
    total_s = 0.01 + dur_s * repetitions
    name = peerlib.bench_name("cuba", "brian2_runtime", neurons=n, duration=f"{dur_s:g}s", dtype=dtype, threads=1)
    return timed_row(name, loops, {"rate_hz": rate, "events_per_second": ev / total_s * dur_s / median(loops)},
                     f"brian2 {b2.__version__} runtime (Cython), {dtype}")


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])


def timed_row(name, seconds, counters, label):
    """The median of the repetitions, with their spread (peerlib.make_row: min, max, cv)."""
    med = median(seconds)
    t = peerlib.Timing(real_time=med, cpu_time=med, iterations=len(seconds), batches=len(seconds), calls_per_batch=1,
                       batch_real_times=list(seconds))
    row = peerlib.make_row(name, t, counters=counters, time_unit="ms", label=label)
    row["repetitions"] = len(seconds)
    return row


def standalone_rows(n, p, dur_s, threads, seed, workdir, dtype, repetitions):
    b2 = import_brian2()
    b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
    b2.device.reinit()
    b2.device.activate(directory=workdir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads if threads > 1 else 0
    set_precision(b2, dtype)
    b2.defaultclock.dt = 0.1 * b2.ms
    P, Ce, Ci, mon = build(b2, n, p, seed)
    b2.run(dur_s * b2.second, profile=True)
    t0 = time.perf_counter()
    b2.device.build(directory=workdir, compile=True, run=True, debug=False)
    total = time.perf_counter() - t0
    first_binary = float(getattr(b2.device, "_last_run_time", 0.0) or 0.0)

    def loop_seconds():
        prof = b2.magic_network.profiling_info if hasattr(b2, "magic_network") else []
        loop = sum(float(t) for name, t in prof if "synapses_create" not in name and "group_variable_set" not in name)
        return loop if loop > 0 else float(getattr(b2.device, "_last_run_time", 0.0) or 0.0)

    loops = [loop_seconds()]
    for _ in range(repetitions - 1):  # the binary again: the same simulation, timed anew
        b2.device.run(directory=workdir, with_output=False)
        loops.append(loop_seconds())
    rate = len(mon.i[:]) / n / dur_s
    ev = events(mon, Ce, Ci, n * 4 // 5, n)
    tag = dict(neurons=n, duration=f"{dur_s:g}s", dtype=dtype, threads=threads)
    label = f"brian2 {b2.__version__} cpp_standalone, {dtype}"
    return [timed_row(peerlib.bench_name("cuba", "brian2_standalone", **tag), loops,
                      {"rate_hz": rate, "events_per_second": ev / median(loops), "binary_seconds": first_binary}, label),
            timed_row(peerlib.bench_name("compile", "brian2_standalone", **tag), [total - first_binary], {}, label)]


def main() -> int:
    parser = peerlib.make_parser(__doc__, dtypes=("float64", "float32"))
    parser.add_argument("--durations", default="1,10", help="simulated seconds, comma-separated")
    parser.add_argument("--repetitions", type=int, default=3, help="timed runs per row (median reported)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    durations = [float(x) for x in args.durations.split(",")]
    threads = max(1, int(getattr(args, "threads", 1) or 1))
    if args.repetitions < 1:
        parser.error(f"--repetitions: expected >= 1, got {args.repetitions}")
    bad = [d for d in args.dtypes if d not in ("float64", "float32")]
    if bad:
        parser.error(f"--dtypes: expected float64 and/or float32, got {','.join(bad)}")
    rows = []
    with peerlib.stdout_to_stderr() as out:
        try:
            import_brian2()
        except Exception as e:  # noqa: BLE001
            # On the real stdout (`out`): inside this block sys.stdout is stderr, and an error
            # row written there reached the harness as "peer failed" without its message.
            peerlib.emit([peerlib.error_row("cuba/brian2_runtime", f"brian2 not importable: {e}")], out)
            return 0
        configs = [(4000, 0.02, d) for d in durations] + [(40000, 0.002, 0.2 if args.quick else 1.0)]
        configs = [c for c in configs if c[0] in args.sizes]
        for dtype in args.dtypes:
            for n, p, d in configs:  # the Cython runtime: every size and duration (1 thread)
                name = peerlib.bench_name("cuba", "brian2_runtime", neurons=n, duration=f"{d:g}s", dtype=dtype, threads=1)
                try:
                    rows.append(runtime_row(n, p, d, 1, dtype, args.repetitions))
                except Exception as e:  # noqa: BLE001
                    rows.append(peerlib.failed_case(name, e))
        work = tempfile.mkdtemp(prefix="neuroperf-brian2-")
        try:
            for dtype in args.dtypes:
                for n, p, d in configs:
                    for t in sorted({1, threads}):
                        name = peerlib.bench_name("cuba", "brian2_standalone", neurons=n, duration=f"{d:g}s", dtype=dtype,
                                                  threads=t)
                        try:
                            rows.extend(standalone_rows(n, p, d, t, 1, os.path.join(work, f"n{n}_d{d:g}_t{t}_{dtype}"), dtype,
                                                        args.repetitions))
                        except Exception as e:  # noqa: BLE001
                            rows.append(peerlib.failed_case(name, e))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        peerlib.emit(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
