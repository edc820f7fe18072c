"""One process-wide lock for building and loading models.

diffusers' and transformers' ``from_pretrained`` build a model with its parameters on the meta device (accelerate's
``init_empty_weights`` patches ``nn.Module.register_parameter`` for the whole process while it runs). A model that
another thread builds at that moment gets meta parameters too: under load (8 clients, `python -m genmodels bench
--only load`) a GAN built beside a pipeline load failed with "Tensor.item() cannot be called on meta tensors" — and,
being cached, failed every later request. Every loader of the package holds this lock (re-entrant: loaders call
loaders), so no two threads build models at once.
"""
from __future__ import annotations

import functools
import threading
from typing import Callable, TypeVar

LOAD_LOCK = threading.RLock()

F = TypeVar("F", bound=Callable)


def serial_load(fn: F) -> F:
    """Run ``fn`` (a loader) holding ``LOAD_LOCK``. Put it under ``functools.lru_cache`` so cache hits stay free."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with LOAD_LOCK:
            return fn(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
