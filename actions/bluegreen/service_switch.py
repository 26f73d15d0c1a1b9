"""Mode service: a preview Service selecting the new colour's warm pods
passes the gate, then the Service clients use switches its selector from
one colour to the other in one server-side apply (field manager dsconsole,
forced: the selector becomes dsconsole's), then the gate again on the live
Service. A breach switches the selector back (the new colour is kept for
inspection); rollback puts the Service back as it was before the run."""
from __future__ import annotations

from typing import Any

from ..model_load import cluster_reads as cr
from ..model_load import manifests
from ..model_load.spec import WARM_LABEL
from ..model_load.steps import ApplyObjects
from ..step import BeforeState
from .live import Live
from .spec import BLUEGREEN_LABEL, COLOUR_LABEL, BlueGreenSpec


def colour_service(spec: BlueGreenSpec, colour: str, *, name: str | None = None) -> dict:
    """The model-load Service, named `name` (default: the model's), selecting
    the warm pods of one colour."""
    svc = manifests.service(spec.model)
    svc["metadata"]["name"] = name or spec.service_name
    svc["metadata"]["labels"] = {BLUEGREEN_LABEL: spec.name}
    svc["spec"]["selector"] = {BLUEGREEN_LABEL: spec.name, COLOUR_LABEL: colour, WARM_LABEL: "true"}
    return svc


def preview_service(spec: BlueGreenSpec, colour: str) -> dict:
    svc = colour_service(spec, colour, name=spec.preview_name)
    svc["metadata"]["labels"][COLOUR_LABEL] = colour
    return svc


def live_colour(kube: Any, spec: BlueGreenSpec) -> str | None:
    """The colour the Service selects now (None: no Service, or no colour in its selector)."""
    svc = cr.get_or_none(kube, "services", spec.namespace, spec.service_name)
    if svc is None:
        return None
    return ((svc.get("spec") or {}).get("selector") or {}).get(COLOUR_LABEL)


def weights_of(colour: str | None) -> tuple[int, int] | None:
    return {"blue": (100, 0), "green": (0, 100)}.get(colour or "")


class PreviewService(ApplyObjects):
    def __init__(self, kube: Any, spec: BlueGreenSpec, colour: str):
        super().__init__(kube, spec.model, "service.preview", f"preview Service -> {colour}",
                         [preview_service(spec, colour)])


class SelectorSwitch(ApplyObjects):
    """The Service's selector to `colour`: one forced server-side apply (the
    selector map is replaced whole, so no moment selects both or neither)."""

    def __init__(self, kube: Any, spec: BlueGreenSpec, live: Live, colour: str):
        super().__init__(kube, spec.model, "service.switch", f"Service selector -> {colour}",
                         [colour_service(spec, colour)])
        self.bg, self.live, self.colour = spec, live, colour

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        for o in self.objects:
            self.kube.apply(o, force=True)
        self.live.update(weights=weights_of(live_colour(self.kube, self.bg)),
                         phase=f"Service selects {self.colour}")
        return ()

    def rollback(self, before: BeforeState) -> None:
        super().rollback(before)
        self.live.update(weights=weights_of(live_colour(self.kube, self.bg)))

    def switch_back(self, colour: str) -> str:
        """The automatic rollback of a breach: the selector to `colour` again."""
        self.kube.apply(colour_service(self.bg, colour), force=True)
        got = live_colour(self.kube, self.bg)
        self.live.update(weights=weights_of(got))
        return f"rolled back: Service {self.bg.service_name} selects {got} again; the other colour kept for inspection"
