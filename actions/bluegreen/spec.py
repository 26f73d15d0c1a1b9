"""What the blue-green wizard switches: the site file's `bluegreen:` section
(parsed with file:line errors by console/site_config.py) in the wizard's own
JSON-able form (`to_params`, so the journal rebuilds the plan), and, for
mode nginx, the site's `balancer:` section with the colours' servers as a
small public dataclass, `LoadBalancer`.

Each colour is the model-load wizard's model under its own name,
`<model>-blue` / `<model>-green`, with the colour label on the Deployment,
its pods and its Service (`colour_spec`), so the model-load manifests,
rollout and warmup steps serve both colours unchanged."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..model_load.spec import ModelSpec

COLOUR_LABEL = "dsconsole.io/colour"
BLUEGREEN_LABEL = "dsconsole.io/bluegreen"   # the model both colours serve
COLOURS = ("blue", "green")
MODES = ("nginx", "service")
DEFAULT_STEPS = ((100, 0), (90, 10), (50, 50), (0, 100))


@dataclass(frozen=True)
class LoadBalancer:
    """The balancer mode nginx switches on: the site host (role lb) that runs
    nginx, the include file dsconsole owns there, the upstream's name, the
    nginx command, the balancer's URL as the console reaches it (the
    balancer: section), and the upstream servers of each colour (the
    bluegreen: section's blue/green; empty: read from the colour's pods)."""
    host: str
    include: str = "/etc/nginx/conf.d/dsconsole-upstream.conf"
    upstream: str = "deepseek"
    nginx: str = "nginx"
    url: str | None = None
    blue: tuple[str, ...] = ()
    green: tuple[str, ...] = ()

    @classmethod
    def from_site(cls, site: Any) -> LoadBalancer | None:
        """The balancer of a console.site_config.Site: its balancer: section,
        with the bluegreen: section's servers of each colour (None: no balancer:)."""
        bal = getattr(site, "balancer", None)
        if bal is None:
            return None
        bg = getattr(site, "bluegreen", None)
        return cls(host=bal.host, include=bal.include, upstream=bal.upstream, nginx=bal.nginx, url=bal.url,
                   blue=tuple(getattr(bg, "blue", ())), green=tuple(getattr(bg, "green", ())))


@dataclass(frozen=True)
class Gate:
    """The gate's thresholds (actions/bluegreen/gate.py judges a window by them)."""
    window_s: float = 20.0
    min_requests: int = 50
    success_rate: float = 0.99
    p99_ms: float = 500.0


@dataclass(frozen=True)
class BlueGreenSpec:
    model: ModelSpec
    mode: str = "nginx"
    lb: LoadBalancer | None = None
    steps: tuple[tuple[int, int], ...] = DEFAULT_STEPS
    gate: Gate = field(default_factory=Gate)
    drain_s: float = 60.0
    probe_rate: float = 20.0        # gate probe requests a second (real completions)

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode: expected nginx or service, got {self.mode!r}")
        if self.mode == "nginx" and self.lb is None:
            problems.append("mode nginx needs the site's balancer: section (host, url, include, ...)")
        if not self.steps or any(b + g != 100 or min(b, g) < 0 for b, g in self.steps):
            problems.append(f"steps: expected [blue, green] pairs summing to 100, got {self.steps!r}")
        elif tuple(self.steps[-1]) != (0, 100):
            problems.append("steps: the last step must be [0, 100]")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def namespace(self) -> str:
        return self.model.namespace

    def colour(self, colour: str) -> ModelSpec:
        return colour_spec(self.model, colour)

    @property
    def service_name(self) -> str:
        """The Service clients use; its selector names the live colour (mode service)."""
        return self.model.name

    @property
    def preview_name(self) -> str:
        return f"{self.model.name}-preview"

    def to_params(self) -> dict:
        d: dict[str, Any] = {"model": self.model.to_params(), "mode": self.mode,
                             "lb": None if self.lb is None else {k: list(v) if isinstance(v, tuple) else v
                                                                 for k, v in asdict(self.lb).items()},
                             "steps": [list(s) for s in self.steps], "gate": asdict(self.gate),
                             "drain_s": self.drain_s, "probe_rate": self.probe_rate}
        return d

    @classmethod
    def from_params(cls, params: dict) -> BlueGreenSpec:
        lb = params.get("lb")
        return cls(model=ModelSpec.from_params(params.get("model")), mode=params.get("mode", "nginx"),
                   lb=None if lb is None else _load_balancer(lb),
                   steps=tuple((int(s[0]), int(s[1])) for s in params.get("steps") or DEFAULT_STEPS),
                   gate=Gate(**(params.get("gate") or {})), drain_s=float(params.get("drain_s", 60.0)),
                   probe_rate=float(params.get("probe_rate", 20.0)))

    @classmethod
    def from_site(cls, site: Any, model: ModelSpec, *, mode: str | None = None) -> BlueGreenSpec:
        """The spec of a site's bluegreen: section (none: the defaults, mode
        service), its balancer: section for mode nginx, `mode` from the command line."""
        bg = getattr(site, "bluegreen", None)
        if bg is None:
            return cls(model=model, mode=mode or "service", lb=LoadBalancer.from_site(site))
        g = bg.gate
        return cls(model=model, mode=mode or bg.mode, lb=LoadBalancer.from_site(site), steps=tuple(bg.steps),
                   gate=Gate(float(g.window_s), int(g.min_requests), float(g.success_rate), float(g.p99_ms)),
                   drain_s=float(bg.drain_s))


DEFAULT_MODEL = "deepseek-r1-distill-qwen-14b"   # with no bluegreen: section (mode service)


def spec_for_site(site: Any, model: str | None = None, mode: str | None = None) -> BlueGreenSpec:
    """The switch a site's bluegreen: section describes, for the command line
    and `:bluegreen` alike: its model (or `model`) as the site's models: entry
    or the model-load preset, `mode` from the command line. Raises ValueError
    or TypeError on a spec the model-load wizard refuses."""
    from ..model_load.spec import spec_for
    bg = getattr(site, "bluegreen", None)
    name = model or (bg.model if bg is not None else DEFAULT_MODEL)
    entry = next((m for m in getattr(site, "models", ()) if m.name == name), None)
    return BlueGreenSpec.from_site(site, spec_for(name, entry), mode=mode)


def _load_balancer(d: dict) -> LoadBalancer:
    return LoadBalancer(host=str(d["host"]), include=d.get("include", LoadBalancer.include),
                        upstream=d.get("upstream", LoadBalancer.upstream), nginx=d.get("nginx", LoadBalancer.nginx),
                        url=d.get("url"), blue=tuple(d.get("blue") or ()), green=tuple(d.get("green") or ()))


def colour_spec(model: ModelSpec, colour: str) -> ModelSpec:
    """The model-load spec of one colour: `<model>-<colour>`, its selector
    its own, the colour and the model on every object and pod."""
    if colour not in COLOURS:
        raise ValueError(f"colour: expected blue or green, got {colour!r}")
    return replace(model, name=f"{model.name}-{colour}", served_name=model.served_model_name,
                   labels={**model.labels, BLUEGREEN_LABEL: model.name, COLOUR_LABEL: colour})


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"
