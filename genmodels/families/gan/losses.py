"""StyleGAN2 training losses (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN",
arXiv:1912.04958, section 2.2 and appendix B; the form follows rosinality/stylegan2-pytorch ``train.py``).

- Non-saturating logistic loss (Goodfellow et al. 2014, arXiv:1406.2661): D minimises softplus(-D(x)) +
  softplus(D(G(z))), G minimises softplus(-D(G(z))).
- R1 penalty (Mescheder, Geiger, Nowozin 2018, arXiv:1801.04406): E ||grad_x D(x)||^2 on real images. Lazy
  regularisation: every ``k`` D steps add ``gamma / 2 * r1_penalty(...) * k`` to the D loss (k = 16 in the paper).
- Path-length regularisation: penalises the deviation of ||J_w^T y|| from its running mean (every 4 G steps).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def d_logistic_loss(real_pred: torch.Tensor, fake_pred: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_pred).mean() + F.softplus(fake_pred).mean()


def g_nonsaturating_loss(fake_pred: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_pred).mean()


def r1_penalty(real_img: torch.Tensor, real_pred: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||d sum(D(x)) / dx||^2 (>= 0, differentiable w.r.t. D's parameters).
    ``real_img`` must have had ``requires_grad_(True)`` before ``real_pred = D(real_img)``."""
    if not real_img.requires_grad:
        raise ValueError("r1_penalty: call real_img.requires_grad_(True) before computing real_pred = D(real_img)")
    (grad,) = torch.autograd.grad(real_pred.sum(), real_img, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


def path_length_penalty(fake_img: torch.Tensor, ws: torch.Tensor, mean_path_length: float, decay: float = 0.01):
    """fake_img = G.synthesis(ws) with ws (N, num_ws, style_dim) requiring grad.
    Returns (penalty, new running mean (float), per-sample path lengths (detached))."""
    noise = torch.randn_like(fake_img) / math.sqrt(fake_img.shape[2] * fake_img.shape[3])
    (grad,) = torch.autograd.grad((fake_img * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    new_mean = mean_path_length + decay * (lengths.mean().item() - mean_path_length)
    return (lengths - new_mean).square().mean(), new_mean, lengths.detach()
