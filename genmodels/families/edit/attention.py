"""Attention processors that let an edit read and rewrite a UNet's attention maps — the mechanism Prompt-to-Prompt
and DragDiffusion's reference-latent control are built on.

Hertz et al. 2022, "Prompt-to-Prompt Image Editing with Cross Attention Control", arXiv:2208.01626 (§3: the
cross-attention maps M = softmax(QK^T / sqrt(d)) bind each text token to the pixels it shapes; an edit keeps or
rewrites them); Cao et al. 2023, "MasaCtrl: Tuning-Free Mutual Self-Attention Control", arXiv:2304.08465 (an edited
branch's self-attention reads keys and values from a reference branch).

``EditAttnProcessor`` computes exactly what diffusers' ``AttnProcessor`` computes (explicit probabilities,
``attn.get_attention_scores``), but hands the probabilities (``Controller.attention``) and, for self-attention, the
keys and values (``Controller.self_kv``) to a controller first. ``controlled(unet, controller)`` installs one on every
attention layer with ``unet.set_attn_processor`` and puts the previous processors back afterwards — also when the
edit fails. The base ``Controller`` changes nothing: a UNet under it computes the same prediction as with diffusers'
default processor (to float rounding; tests/unit/test_edit_p2p.py).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


class Controller:
    """Sees every attention layer's probabilities; the base class changes nothing. ``step`` is the index of the
    denoising step, set by the sampler before each UNet call."""

    step: int = 0

    def attention(self, probs: torch.Tensor, is_cross: bool, layer: "EditAttnProcessor", heads: int) -> torch.Tensor:
        """``probs``: (batch * heads, queries, keys), batch outermost. Return the probabilities to use."""
        return probs

    def self_kv(self, key: torch.Tensor, value: torch.Tensor, layer: "EditAttnProcessor"):
        """Self-attention keys and values (batch, tokens, dim) before the split into heads."""
        return key, value


class EditAttnProcessor:
    """diffusers' ``AttnProcessor`` computation with a ``Controller`` between the softmax and the weighted sum."""

    def __init__(self, controller: Controller, name: str):
        self.controller = controller
        self.name = name  # e.g. "up_blocks.0.attentions.1.transformer_blocks.0.attn2.processor"
        self.place = name.split("_")[0]  # down / mid / up

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args,
                 **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        is_cross = encoder_hidden_states is not None
        batch_size, sequence_length, _ = (encoder_hidden_states if is_cross else hidden_states).shape
        attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if not is_cross:
            context = hidden_states
        else:
            context = attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else \
                encoder_hidden_states
        key, value = attn.to_k(context), attn.to_v(context)
        if not is_cross:
            key, value = self.controller.self_kv(key, value, self)
        query, key, value = attn.head_to_batch_dim(query), attn.head_to_batch_dim(key), attn.head_to_batch_dim(value)
        probs = attn.get_attention_scores(query, key, attention_mask)
        probs = self.controller.attention(probs, is_cross, self, attn.heads)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


@contextmanager
def controlled(unet, controller: Controller):
    """Every attention layer of ``unet`` runs an ``EditAttnProcessor`` bound to ``controller`` inside the block;
    the previous processors are restored on exit."""
    before = dict(unet.attn_processors)
    unet.set_attn_processor({name: EditAttnProcessor(controller, name) for name in before})
    try:
        yield controller
    finally:
        unet.set_attn_processor(before)


def split_heads(probs: torch.Tensor, heads: int) -> torch.Tensor:
    """(batch * heads, q, k) -> (batch, heads, q, k)."""
    return probs.view(probs.shape[0] // heads, heads, *probs.shape[1:])
