"""The Gradio hub: ``build()`` assembles one tab per registered family."""
from .build import build, launch_kwargs

__all__ = ["build", "launch_kwargs"]
