"""The hub's guard on Gradio's own preprocessing, which runs *before* a handler: :func:`guard_inputs` wraps every
input of the app so a bad payload (an unreadable upload, text for a number, NaN, an over-long text) answers with a
sentence (a ``gr.Error``) instead of "the upstream app raised an exception". The checks themselves are
``genmodels/validate.py`` and ``genmodels/limits.py``.
"""
from __future__ import annotations

import html
import math

import gradio as gr
from PIL import Image

from ..limits import LimitError, _limit_text, check_image_header
from ..validate import MAX_TEXT_CHARS, InputError


def _label(block) -> str:
    """The input's label as a message names it: before any ':' or ' (', at most ~40 characters."""
    label = str(getattr(block, "label", None) or type(block).__name__).split(":")[0].strip()
    if len(label) > 40:
        label = label.split(" (")[0] if " (" in label[:40] else label[:40].rsplit(" ", 1)[0] + "…"
    return label


def _reason(err: Exception, block) -> str:
    name = type(err).__name__
    label = _label(block)
    if isinstance(block, (gr.Image, gr.Sketchpad, gr.ImageEditor, gr.Gallery)):
        if isinstance(err, Image.DecompressionBombError):
            return f"{label}: the image is larger than this server decodes ({_limit_text()})."
        return f"{label}: the upload is not an image this server can read (PNG, JPEG, WebP, GIF, BMP, TIFF)."
    if isinstance(block, (gr.Number, gr.Slider)):
        return f"{label} must be a number."
    if "Validation" in name:
        return f"{label}: the value is not in the form this input takes."
    return f"{label}: this value could not be read ({name})."


def _guard(block) -> None:
    original = block.preprocess
    is_image = isinstance(block, gr.Image)
    is_number = isinstance(block, (gr.Number, gr.Slider))
    is_text = isinstance(block, gr.Textbox)
    label = _label(block)

    def preprocess(payload):
        try:
            if is_number and payload is not None:
                try:
                    f = float(payload)
                except (TypeError, ValueError, OverflowError):
                    raise gr.Error(f"{label} must be a number, got {str(payload)[:40]!r}.") from None
                if not math.isfinite(f):
                    raise gr.Error(f"{label} must be a finite number, got {f}.")
            if is_text and isinstance(payload, str) and len(payload) > MAX_TEXT_CHARS:
                raise gr.Error(f"{label}: the text is {len(payload):,} characters long; the limit is "
                               f"{MAX_TEXT_CHARS:,}.")
            if is_image and payload is not None and getattr(payload, "path", None):
                check_image_header(payload.path, f"image in “{label}”")
            return original(payload)
        except gr.Error:
            raise
        except (InputError, LimitError) as e:
            raise gr.Error(html.escape(str(e), quote=False)) from None
        except Exception as e:
            raise gr.Error(_reason(e, block)) from None

    block.preprocess = preprocess


def guard_inputs(demo) -> None:
    """Make every input of ``demo`` answer bad values with a sentence (a ``gr.Error``), including the failures
    of Gradio's own preprocessing that happen before a handler runs; refuse NaN / inf numbers and over-long text
    for every input at the same place."""
    seen = set()
    for fn in demo.fns.values():
        for block in fn.inputs:
            if id(block) in seen or not isinstance(block, gr.components.Component):
                continue
            seen.add(id(block))
            _guard(block)
    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as e:  # before preprocess: a payload of the wrong form (e.g. text for an image)
            raise gr.Error(f"An input of “{block_fn.api_name or block_fn.name}” is not in the form it takes "
                           f"({type(e).__name__}).") from None

    demo.preprocess_data = preprocess_data
