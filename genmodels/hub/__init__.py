"""The Gradio hub: ``build()`` assembles one tab per registered family (imported lazily: importing this package
does not import Gradio)."""


def build(*args, **kwargs):
    from .build import build as _build

    return _build(*args, **kwargs)


def launch_kwargs() -> dict:
    from .build import launch_kwargs as _launch_kwargs

    return _launch_kwargs()


__all__ = ["build", "launch_kwargs"]
