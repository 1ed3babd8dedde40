"""The spiking network engine (neuroperf::Network): LIF populations (CUBA/COBA), Poisson inputs,
random projections with delays, monitors and a run loop bit-identical at any thread count.
See docs/guide/python_snn.md (and docs/guide/snn.md for the model)."""

from __future__ import annotations

from . import _core
from ._config import _Config, resolve_config

_NUM = (int, float)


class NetworkConfig(_Config):
    """Options of a Network (NetworkOptions in C++).

    dt: time step in ms (> 0); seed: keys every random number (connectivity, initial v, Poisson
    input, per-synapse weights and delays); num_threads: threads of run() (None = OpenMP's
    default: OMP_NUM_THREADS or all cores); memory_limit_bytes: run() refuses (neuroperf.ValueError)
    when its estimate of synapse, state and monitor memory exceeds this; use_jit: JIT-compile the
    population step (False: the AOT kernel).
    """

    _fields = {
        "dt": (0.1, _NUM, "time step, ms"),
        "seed": (1, (int,), "random seed"),
        "num_threads": (None, (int,), "threads (None = default)"),
        "memory_limit_bytes": (4 << 30, (int,), "memory bound of run()"),
        "use_jit": (True, (bool,), "JIT-compile the population step"),
    }

    def validate(self) -> None:
        _core._Network(**self._core_kwargs())

    def _core_kwargs(self) -> dict:
        d = self.to_dict()
        d["dt"] = float(d["dt"])
        if d["num_threads"] is None:
            d["num_threads"] = 0
        elif d["num_threads"] < 1:
            raise _core.ValueError(f"NetworkConfig.num_threads: expected None or an integer >= 1, "
                                   f"got {d['num_threads']}")
        if not 0 <= d["seed"] < 2**64:
            raise _core.ValueError(f"NetworkConfig.seed: expected an integer in [0, 2**64), got {d['seed']}")
        return d


def _floats(d: dict, names) -> dict:
    for n in names:
        if d.get(n) is not None and not isinstance(d[n], bool):
            d[n] = float(d[n])
    return d


class PopulationSpec(_Config):
    """A population of leaky integrate-and-fire neurons (times ms, potentials mV).

    synapse: "current" (CUBA: g_e, g_i are currents in mV) or "conductance" (COBA: conductances
    relative to the leak, reversal potentials e_exc, e_inh); initial v uniform in
    [v_init_min, v_init_max] (equal bounds: constant). Checked by the C++ library (a tau <= 0,
    v_reset >= v_thresh, negative refractory, non-finite values: neuroperf.ValueError); the
    check dt < tau is made when the population is added to a Network.
    """

    _fields = {
        "name": ("P", (str,), "name"),
        "size": (0, (int,), "neurons"),
        "synapse": ("current", (str,), "current | conductance"),
        "tau_m": (20.0, _NUM, "membrane time constant, ms"),
        "tau_e": (5.0, _NUM, "excitatory synaptic time constant, ms"),
        "tau_i": (10.0, _NUM, "inhibitory synaptic time constant, ms"),
        "v_rest": (-60.0, _NUM, "leak reversal potential E_L, mV"),
        "v_reset": (-60.0, _NUM, "reset potential, mV"),
        "v_thresh": (-50.0, _NUM, "threshold, mV"),
        "i_ext": (0.0, _NUM, "constant drive R*I, mV"),
        "e_exc": (0.0, _NUM, "excitatory reversal potential (conductance model), mV"),
        "e_inh": (-80.0, _NUM, "inhibitory reversal potential (conductance model), mV"),
        "refractory": (5.0, _NUM, "refractory period, ms"),
        "v_init_min": (-60.0, _NUM, "initial v lower bound, mV"),
        "v_init_max": (-60.0, _NUM, "initial v upper bound, mV"),
        "g_e_init": (0.0, _NUM, "initial g_e"),
        "g_i_init": (0.0, _NUM, "initial g_i"),
    }

    def _core_kwargs(self) -> dict:
        return _floats(self.to_dict(), [n for n in self._fields if n not in ("name", "size", "synapse")])

    def validate(self) -> None:
        # A scratch network with a tiny step: every check of add_population except dt < tau.
        kw = self._core_kwargs()
        taus = [kw[n] for n in ("tau_m", "tau_e", "tau_i") if kw[n] > 0]
        dt = min([1e-3] + [t / 2 for t in taus])
        dt = max(dt, kw["refractory"] * 1e-9 if kw["refractory"] > 0 else 0, 1e-12)
        _core._Network(dt=dt, seed=1, num_threads=1, memory_limit_bytes=1, use_jit=False).add_population(**kw)


class PoissonInputSpec(_Config):
    """`size` independent Poisson spike sources firing at `rate_hz` each (rate * dt <= 1, checked
    when added to a Network)."""

    _fields = {
        "name": ("poisson", (str,), "name"),
        "size": (0, (int,), "sources"),
        "rate_hz": (0.0, _NUM, "rate per source, Hz"),
    }

    def _core_kwargs(self) -> dict:
        return _floats(self.to_dict(), ["rate_hz"])

    def validate(self) -> None:
        _core._Network(dt=1e-9, seed=1, num_threads=1, memory_limit_bytes=1, use_jit=False).add_poisson_input(
            **self._core_kwargs())


class ProjectionSpec(_Config):
    """Synapses from neurons [source_begin, source_end) of population `source` to
    [target_begin, target_end) of `target` (-1 ends = the population's size).

    connectivity: "fixed_probability" (each pair with `probability`) or "fixed_indegree" (each
    target gets `indegree` distinct sources); type: "excitatory" (adds to g_e) or "inhibitory"
    (g_i). weight: mV (CUBA) or units of the leak conductance (COBA, >= 0). Delay: delay_steps
    (>= 1; 1 = Brian2's zero delay), or delay_ms >= 0 giving 1 + round(delay_ms/dt) steps.
    Per-synapse values: weight_sd > 0 draws each weight from normal(weight, weight_sd) clipped at
    0 on the mean's side (sign-preserving); delay_max_steps > 0 (or delay_max_ms >= 0) draws each
    delay uniformly among the integers [delay, delay_max]. Drawn from Philox keyed by
    (seed, projection, synapse): reproducible and independent of the thread count.
    Range checks against the populations are made when added to a Network.
    """

    _fields = {
        "source": (None, (int,), "source population id"),
        "target": (None, (int,), "target population id"),
        "source_begin": (0, (int,), "first source neuron"),
        "source_end": (-1, (int,), "end of the source range (-1 = size)"),
        "target_begin": (0, (int,), "first target neuron"),
        "target_end": (-1, (int,), "end of the target range (-1 = size)"),
        "connectivity": ("fixed_probability", (str,), "fixed_probability | fixed_indegree"),
        "probability": (0.0, _NUM, "connection probability"),
        "indegree": (0, (int,), "sources per target (fixed_indegree)"),
        "allow_autapses": (True, (bool,), "allow j -> j within one population"),
        "weight": (0.0, _NUM, "weight (mean when weight_sd > 0)"),
        "type": ("excitatory", (str,), "excitatory | inhibitory"),
        "delay_steps": (1, (int,), "delay in steps (>= 1)"),
        "delay_ms": (-1.0, _NUM, "delay in ms (>= 0 overrides delay_steps)"),
        "weight_sd": (0.0, _NUM, "standard deviation of per-synapse weights"),
        "delay_max_steps": (0, (int,), "upper bound of per-synapse delays, steps (0 = none)"),
        "delay_max_ms": (-1.0, _NUM, "upper bound of per-synapse delays, ms (-1 = none)"),
    }

    def _core_kwargs(self) -> dict:
        return _floats(self.to_dict(), ["probability", "weight", "delay_ms", "weight_sd", "delay_max_ms"])

    def validate(self) -> None:
        kw = self._core_kwargs()
        for name in ("source", "target"):
            if kw[name] is None:
                raise _core.TypeError(f"ProjectionSpec.{name}: expected a population id (int), got None")
        # A scratch network holding populations large enough for the ranges: the C++ checks of
        # add_projection that do not depend on the real populations (dt 0.1 ms for delay_ms).
        net = _core._Network(dt=0.1, seed=1, num_threads=1, memory_limit_bytes=1, use_jit=False)
        n_src = max(1, kw["source_end"], kw["source_begin"], kw["indegree"] + 1)
        n_tgt = max(1, kw["target_end"], kw["target_begin"])
        same = kw["source"] == kw["target"]
        lif = PopulationSpec()._core_kwargs()
        src = net.add_population(**{**lif, "size": max(n_src, n_tgt) if same else n_src})
        tgt = src if same else net.add_population(**{**lif, "size": n_tgt})
        net.add_projection(**{**kw, "source": src, "target": tgt})


# Results: records of the C++ structs, made from their field lists (attributes, r["name"],
# keys(), to_dict()); the monitors' arrays are NumPy views of the result's memory.
MemoryEstimate = _core.MemoryEstimate
SpikeMonitorData = _core.SpikeMonitorData
RateMonitorData = _core.RateMonitorData
StateMonitorData = _core.StateMonitorData
SimulationSummary = _core.SimulationSummary
SimulationResult = _core.SimulationResult


def _spec(owner: str, spec_type: type, spec, kwargs: dict):
    return resolve_config(owner, spec_type, spec, kwargs)


class Network(_core._Network):
    """A spiking network: describe it (add_*), then run(duration_ms); run() may be called again to
    continue (the structure is frozen by the first run). The GIL is released while it runs;
    results are NumPy arrays owning the C++ buffers (no copies).

        net = neuroperf.Network(dt=0.1, seed=42, num_threads=1)
        p = net.add_population(size=4000, v_rest=-49, v_init_max=-50, ...)
        net.add_projection(source=p, target=p, source_end=3200, probability=0.02, weight=1.62)
        net.add_spike_monitor(p)
        r = net.run(1000.0)
    """

    def __init__(self, config: NetworkConfig | None = None, **kwargs):
        config = resolve_config("Network", NetworkConfig, config, kwargs)
        super().__init__(**config._core_kwargs())
        self._config = config
        self._projections = 0

    @property
    def config(self) -> NetworkConfig:
        return self._config

    def add_population(self, spec: PopulationSpec | None = None, **kwargs) -> int:
        """Adds a LIF population (a PopulationSpec or its fields as keywords); returns its id."""
        return super().add_population(**_spec("add_population", PopulationSpec, spec, kwargs)._core_kwargs())

    def add_poisson_input(self, spec: PoissonInputSpec | None = None, **kwargs) -> int:
        """Adds Poisson sources (a PoissonInputSpec or its fields as keywords); returns its id."""
        return super().add_poisson_input(**_spec("add_poisson_input", PoissonInputSpec, spec, kwargs)._core_kwargs())

    def add_projection(self, spec: ProjectionSpec | None = None, **kwargs) -> int:
        """Adds a projection (a ProjectionSpec or its fields as keywords); returns its index."""
        super().add_projection(**_spec("add_projection", ProjectionSpec, spec, kwargs)._core_kwargs())
        self._projections += 1
        return self._projections - 1

    def add_spike_monitor(self, population: int, max_spikes: int = -1) -> int:
        """Records every spike of `population` up to max_spikes per run (-1: the most it can fire);
        returns the monitor's index in SimulationResult.spikes."""
        return super().add_spike_monitor(population, max_spikes)

    def add_state_monitor(self, population: int, neurons, variables=("v",), every_steps: int = 1) -> int:
        """Samples `variables` ("v", "g_e", "g_i") of `neurons` at steps 0, k, 2k, ..."""
        return super().add_state_monitor(population, [int(i) for i in neurons], list(variables), every_steps)

    def add_vogels_abbott(self, model: str = "cuba", neurons: int = 4000, probability: float = 0.02,
                          spike_monitor: bool = True) -> int:
        """The Vogels-Abbott benchmark network of Brian2's examples (CUBA.py / COBA.py), scaled to
        `neurons` (80% excitatory); adds a spike monitor when spike_monitor. Returns the population."""
        pop = super().add_vogels_abbott(model, neurons, float(probability), spike_monitor)
        self._projections += 2
        return pop

    def run(self, duration_ms: float, progress=None, progress_interval: float = 0.1) -> SimulationResult:
        """Runs round(duration_ms / dt) steps (GIL released). neuroperf.ValueError for a negative
        duration or a memory estimate over memory_limit_bytes (before allocating anything).

        progress: None or False shows nothing; True draws a progress bar on stderr (the CLI's;
        a line per 10% when stderr is not a terminal); a callable(steps_done, steps_total) is
        called on this thread with the GIL between steps: when at least `progress_interval`
        seconds (>= 0; 0 = every step) of wall time have passed since the loop started or the
        previous call returned, and once at the end with (steps_total, steps_total). An exception
        it raises, or Ctrl-C (KeyboardInterrupt, checked at the same rate whatever `progress`
        is), stops the run after at most one more step and propagates from run(); the network
        then stays consistent at `time_ms` (run() again continues from there) and the stopped
        run's records are dropped."""
        if progress is not None and not isinstance(progress, bool) and not callable(progress):
            raise _core.TypeError(f"run: progress: expected True, False, None or a callable(steps_done, steps_total), "
                                  f"got {type(progress).__name__}")
        if isinstance(progress_interval, bool) or not isinstance(progress_interval, _NUM):
            raise _core.TypeError(f"run: progress_interval: expected a number of seconds >= 0, "
                                  f"got {type(progress_interval).__name__}")
        return super().run(float(duration_ms), progress, float(progress_interval))

    def __repr__(self):
        return f"Network({self._config!r}, populations={self.num_populations}, projections={self._projections})"


def add_vogels_abbott(net: Network, model: str = "cuba", neurons: int = 4000, probability: float = 0.02,
                      spike_monitor: bool = True) -> int:
    """neuroperf::add_vogels_abbott: Network.add_vogels_abbott as a function."""
    return net.add_vogels_abbott(model, neurons, probability, spike_monitor)
