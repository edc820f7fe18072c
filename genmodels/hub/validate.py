"""Temporary re-export of the validators that moved to ``genmodels/validate.py``, kept only while
``families/diffusion/tab.py`` and ``families/distill/service.py`` still import them from here; delete it once they
import ``genmodels.validate``. New code imports ``genmodels.validate`` (validators) or ``genmodels.hub.guard``
(Gradio preprocessing)."""
from ..validate import model_source, parse_whole  # noqa: F401
