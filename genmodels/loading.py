"""One process-wide lock for building and loading models.

diffusers' and transformers' ``from_pretrained`` build a model with its parameters on the meta device (accelerate's
``init_empty_weights`` patches ``nn.Module.register_parameter`` for the whole process while it runs). A model that
another thread builds at that moment gets meta parameters too: under load (8 clients, `python -m genmodels bench
--only load`) a GAN built beside a pipeline load failed with "Tensor.item() cannot be called on meta tensors" — and,
being cached, failed every later request. Every loader of the package holds this lock (re-entrant: loaders call
loaders), so no two threads build models at once.

The same lock makes slow one-off work wait-for-able without blocking start-up: ``run_holding_lock`` runs a function
on a background thread that holds the lock, so every loader entered afterwards waits until it is done. The hub uses it
to resolve transformers' / diffusers' lazy classes after the server answers (hub/build.py ``start_warm_imports``).
"""
from __future__ import annotations

import functools
import logging
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


def run_holding_lock(fn: Callable[[], object], name: str, timeout_s: float = 30.0) -> threading.Thread:
    """Run ``fn`` on a daemon thread that holds ``LOAD_LOCK`` for as long as ``fn`` runs, and return once that thread
    holds the lock: every loader (``serial_load``, ``with LOAD_LOCK``) entered after this call waits until ``fn`` has
    finished. ``fn``'s exceptions are logged (a warning), never raised here. If another thread holds the lock for more
    than ``timeout_s`` seconds this returns anyway with a warning (``fn`` then runs when that thread releases it)."""
    held = threading.Event()
    log = logging.getLogger("genmodels")

    def target() -> None:
        with LOAD_LOCK:
            held.set()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 — a background job: say what failed, keep serving
                log.warning("%s failed: %s: %s", name, type(e).__name__, e)

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    if not held.wait(timeout_s):
        log.warning("%s: the model-load lock was busy for %.0f s; it runs once the lock is free", name, timeout_s)
    return thread
