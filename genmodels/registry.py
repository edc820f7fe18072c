"""The family registry: every tab of the hub is a registered ``Family``.

A family's package calls ``register(Family(...))`` at import; ``families()`` imports the built-in packages and
returns them in tab order. Registering is cheap: no weights, no Gradio — ``build_tab`` imports what it needs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .hub.context import HubContext

# Packages whose import registers a family, in tab order.
BUILTIN = ("genmodels.hub.compare_family", "genmodels.data.family", "genmodels.hub.metrics_family", "genmodels.families.gan.family",
           "genmodels.families.img2img.family", "genmodels.families.vae.family",
           "genmodels.families.autoregressive.family",
           "genmodels.families.diffusion.family", "genmodels.families.distill.family",
           "genmodels.families.edit.family")

_REGISTRY: dict[str, "Family"] = {}


@dataclass(frozen=True)
class Family:
    key: str  # used in URLs (?tab=key), api_names and spaces/<key>
    title: str  # tab label
    summary: str  # one paragraph for the tab's "How it works"
    papers: tuple[str, ...]  # citations
    build_tab: Callable[["HubContext"], None]  # builds the tab's components inside an open gr.Tab
    models: tuple[str, ...] = field(default=())  # embedded default models (folders under genmodels/weights)
    order: int = 100

    def __post_init__(self) -> None:
        if not self.key.isidentifier() or self.key != self.key.lower():
            raise ValueError(f"family key must be a lower-case identifier, got {self.key!r}")


def lazy_tab(module: str) -> Callable[["HubContext"], None]:
    """A ``build_tab`` that imports ``module`` (and so Gradio) only when the tab is built, then calls its
    ``build_tab(ctx)``."""

    def build(ctx: "HubContext") -> None:
        importlib.import_module(module).build_tab(ctx)

    build.__qualname__ = f"lazy_tab({module})"
    return build


def register(family: Family) -> Family:
    old = _REGISTRY.get(family.key)
    if old is not None and old.title != family.title:
        raise ValueError(f"family key {family.key!r} is already registered")
    _REGISTRY[family.key] = family
    return family


def families(keys: list[str] | tuple[str, ...] | None = None) -> list[Family]:
    """The registered families in tab order, or only ``keys`` (in the order given)."""
    for mod in BUILTIN:
        importlib.import_module(mod)
    if keys is None:
        return sorted(_REGISTRY.values(), key=lambda f: (f.order, f.key))
    unknown = [k for k in keys if k not in _REGISTRY]
    if unknown:
        raise KeyError(f"unknown family {', '.join(unknown)}; known: {', '.join(sorted(_REGISTRY))}")
    return [_REGISTRY[k] for k in keys]
