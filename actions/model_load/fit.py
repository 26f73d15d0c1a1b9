"""Does the model fit? Weight bytes (parameters x bytes per parameter) plus a
KV-cache reserve, per replica, against GPU memory x tensor-parallel size x
the memory fraction the server may use. The arithmetic is the verdict's text."""
from __future__ import annotations

from dataclasses import dataclass

from .spec import ModelSpec

GIB = 1024 ** 3


@dataclass(frozen=True)
class Fit:
    ok: bool
    lines: tuple[str, ...]


def fit(spec: ModelSpec, gpu_memory_gib: float) -> Fit:
    weights = spec.weight_bytes / GIB
    kv = spec.kv_reserve_gib or weights * 0.10
    need = weights + kv
    usable = gpu_memory_gib * spec.tensor_parallel * spec.memory_fraction
    lines = (
        f"weights: {spec.params_b:g}B parameters x {_bpp(spec)} bytes ({spec.dtype.upper()}) = {weights:,.1f} GiB",
        f"KV-cache reserve: {kv:,.1f} GiB" + ("" if spec.kv_reserve_gib else " (10 % of the weights)"),
        f"needed per replica: {need:,.1f} GiB",
        f"usable per replica: {gpu_memory_gib:,.1f} GiB x {spec.tensor_parallel} GPUs (tensor parallel) "
        f"x {spec.memory_fraction:g} = {usable:,.1f} GiB",
        (f"fits: {usable - need:,.1f} GiB to spare" if need <= usable
         else f"does NOT fit: {need - usable:,.1f} GiB short"),
    )
    return Fit(need <= usable, lines)


def _bpp(spec: ModelSpec) -> str:
    from .spec import DTYPES
    return f"{DTYPES[spec.dtype]:g}"
