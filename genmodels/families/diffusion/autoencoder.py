"""The tiny Stable Diffusion's autoencoders: ``python -m genmodels train sd-ae`` (f = 4, 8x8xC latents, issue 29)
then its decoder alone (``sd-ae-decoder``: L1 + L2 + an image-gradient term, as SD's ft-MSE decoder); ``vae_loss`` is
the plain L1 + L2 + tiny-KL objective of the earlier f = 2 autoencoder (kept for small tests).

Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models", arXiv:2112.10752 (§4.1: f = 4-16
balance cost and fidelity; f = 1-2 train the diffusion model slowly); Esser, Rombach, Ommer 2021, "Taming
Transformers for High-Resolution Image Synthesis", arXiv:2012.09841 (L1 + perceptual + patch discriminator after a
warm-up); Yao, Yang, Wang 2025, "Reconstruction vs. Generation: Taming Optimization Dilemma in Latent Diffusion
Models", arXiv:2501.01423 (VA-VAE: aligning the latent with a frozen vision model's features — margin cosine +
margin distance-matrix losses — made DiT converge ~21x faster).

What differs here, and why:
- 32x32x3 -> 8x8xC with a diffusers ``AutoencoderKL`` (three blocks), so the shipped folder stays the SD 1.x ``vae/``.
- The perceptual term and the alignment target are the frozen *gan-guide* network (a shapes net trained on its own
  for the GANs, ``genmodels/families/gan/projected.py``) — never the scoring classifier, which grades the result.
  Its 16x16 / 8x8 / 4x4 maps are unit-normalised per position and compared by squared distance (LPIPS' recipe
  without the learned linear heads); its 8x8 map (96 channels) is the VA-VAE target of the 8x8 latent.
- Patch discriminator: a small spectral-norm conv net with hinge loss, switched on after ``d_start`` steps (Taming's
  warm-up), weight ``d_weight``; one optimiser for both (the generator's adversarial term sees the discriminator's
  weights detached, so it cannot move them).
- Latents are normalised per channel afterwards and the shift / scale folded into ``quant_conv`` /
  ``post_quant_conv`` (``tiny_sd.fold_latent_normalisation``), so ``scaling_factor`` is 1.0.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...data import shapes
from ...data.dataset import shapes_arrays, to_tensor, to_uint8
from ...training import TrainConfig, image_gradient_l1, infinite_batches, train
from . import tiny_sd
from .common import RUNS, attribute_accuracy, latent_stats, load_part, reconstruct, write_card

SN = nn.utils.parametrizations.spectral_norm


class PatchDiscriminator(nn.Module):
    """A PatchGAN (Isola et al. 2017, arXiv:1611.07004) sized for 32x32: 32 -> 16 -> 8 -> 8x8 logits."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.net = nn.Sequential(SN(nn.Conv2d(3, width, 4, 2, 1)), nn.LeakyReLU(0.2),
                                 SN(nn.Conv2d(width, 2 * width, 4, 2, 1)), nn.LeakyReLU(0.2),
                                 SN(nn.Conv2d(2 * width, 2 * width, 3, 1, 1)), nn.LeakyReLU(0.2),
                                 SN(nn.Conv2d(2 * width, 1, 3, 1, 1)))

    def forward(self, x):
        return self.net(x)


class AETrainer(nn.Module):
    """The autoencoder, the latent projector of the alignment loss and the patch discriminator, as one module so
    the shared loop checkpoints them together. Only ``vae`` is shipped."""

    def __init__(self, vae, target_dim: int):
        super().__init__()
        self.vae = vae
        self.proj = nn.Conv2d(vae.config.latent_channels, target_dim, 1)
        self.disc = PatchDiscriminator()


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-8)


def perceptual(feats_a: list[torch.Tensor], feats_b: list[torch.Tensor]) -> torch.Tensor:
    """LPIPS-style distance without learned heads: per-position unit-normalised features, squared distance summed
    over channels, averaged over positions and layers."""
    return sum((_unit(a) - _unit(b)).pow(2).sum(1).mean() for a, b in zip(feats_a, feats_b)) / len(feats_a)


def alignment(z_proj: torch.Tensor, target: torch.Tensor, m_cos: float = 0.5, m_dist: float = 0.25) -> torch.Tensor:
    """VA-VAE's VF loss: margin cosine similarity per position + margin distance-matrix similarity (the cosine
    similarity matrices between positions of one image should agree)."""
    cos = F.cosine_similarity(z_proj, target, dim=1)  # (N, H, W)
    l_mcos = F.relu(1 - m_cos - cos).mean()
    a, b = _unit(z_proj).flatten(2), _unit(target).flatten(2)  # (N, C, HW)
    sa, sb = a.transpose(1, 2) @ a, b.transpose(1, 2) @ b
    l_mdms = F.relu((sa - sb).abs() - m_dist).mean()
    return l_mcos + l_mdms


def _frozen(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` with its parameters detached: gradients reach ``x`` only."""
    params = {k: v.detach() for k, v in module.named_parameters()}
    return torch.func.functional_call(module, params, (x,))


def train_sd_ae(steps: int = 2400, batch: int = 32, n_train: int = 100_000, seed: int = 0, out=None, run_dir=None,
                channels: int = 8, align_weight: float = 0.5, perc_weight: float = 1.0, d_weight: float = 0.1,
                d_start: int = 1200, kl_weight: float = 1e-6, monitor_every: int = 300, lr: float = 1e-3) -> dict:
    from ..gan.projected import load_guide

    torch.manual_seed(seed)
    run = Path(run_dir or RUNS / "sd-ae")
    folder = Path(out) if out else tiny_sd.WEIGHTS / tiny_sd.PIPE / "vae"
    guide = load_guide().eval().requires_grad_(False)
    vae = tiny_sd.build_vae(latent_channels=channels)
    model = AETrainer(vae, guide.widths[1])
    x = to_tensor(shapes_arrays("train", n_train)["images"])
    test = shapes_arrays("test", 500)
    xt = to_tensor(test["images"])

    def loss_fn(m, b, step):
        (xb,) = b
        post = m.vae.encode(xb).latent_dist
        z = post.sample()
        rec = m.vae.decode(z).sample
        l1 = (rec - xb).abs().mean()
        with torch.no_grad():
            f_real = guide.features(xb)
        f_rec = guide.features(rec)
        perc = perceptual(f_rec, f_real)
        align = alignment(m.proj(post.mean), f_real[1])
        kl = post.kl().mean() / xb[0].numel()
        loss = l1 + perc_weight * perc + align_weight * align + kl_weight * kl
        logs = {"l1": l1.detach(), "perc": perc.detach(), "align": align.detach()}
        if step >= d_start:
            d_real, d_fake = m.disc(xb), m.disc(rec.detach())
            d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            g_adv = -_frozen(m.disc, rec).mean()
            loss = loss + d_loss + d_weight * g_adv
            logs.update(d=d_loss.detach(), g=g_adv.detach())
        return loss, logs

    log = run / "monitor.jsonl"

    def hook(step, net, wall):
        net.eval()
        rec = reconstruct(net.vae, xt)
        from ...scoring import psnr

        r = {"step": step, "wall_min": round(wall / 60, 1),
             **{k: round(v, 4) for k, v in attribute_accuracy(rec, test["labels"]).items()},
             "psnr_dB": round(float(psnr(to_uint8(rec), test["images"])), 2)}
        with open(log, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("monitor", r, flush=True)

    cfg = TrainConfig(steps=steps, lr=lr, warmup=100, ckpt_every=100, seed=seed, ema=None, weight_decay=0.0)
    res = train(model, loss_fn, infinite_batches((x,), batch, seed), cfg, run, desc="sd-ae", hook=hook,
                hook_every=monitor_every)
    model.load_state_dict(res["state_dict"])
    vae.eval()
    mean, std = latent_stats(vae, x[:8192])
    tiny_sd.fold_latent_normalisation(vae, mean, std)
    tiny_sd.save_fp16(vae, folder)  # evaluate what is shipped: the weights rounded to fp16
    vae = type(vae).from_pretrained(str(folder)).eval()
    full = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    rec = reconstruct(vae, to_tensor(full["images"]))
    from ...scoring import psnr

    metrics = {"steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 1), "batch": batch, "lr": lr,
               "latent": f"8x8x{channels}", "align_weight": align_weight, "perc_weight": perc_weight,
               "d_weight": d_weight, "d_start": d_start, "kl_weight": kl_weight,
               "params_M": round(sum(p.numel() for p in vae.parameters()) / 1e6, 3),
               "psnr_test_dB": round(float(psnr(to_uint8(rec), full["images"])), 2),
               **{f"recon_{k}_acc": round(v, 4) for k, v in attribute_accuracy(rec, full["labels"]).items()},
               "latent_mean_before_fold": [round(float(v), 3) for v in mean],
               "latent_std_before_fold": [round(float(v), 3) for v in std]}
    if log.exists():
        (folder / "monitor.jsonl").write_text(log.read_text())
    write_card(folder, f"sd-ae: the tiny Stable Diffusion's AutoencoderKL (32x32x3 -> 8x8x{channels}, f = 4)",
               f"`python -m genmodels train sd-ae` on {n_train:,} rendered train items: L1 + {perc_weight} x "
               f"perceptual (frozen gan-guide features) + {align_weight} x VA-VAE alignment of the latent with the "
               f"gan-guide's 8x8 map + {kl_weight} x KL + {d_weight} x hinge patch-GAN from step {d_start}; batch "
               f"{batch}, AdamW {lr} cosine; latents then normalised per channel (folded into quant_conv / "
               "post_quant_conv; scaling_factor 1.0), weights stored in fp16. Reconstruction accuracy = the scoring "
               "classifier reading the 2,000 test-split reconstructions; `monitor.jsonl`: the same on 500 test items "
               "during training.", metrics)
    return metrics


# ---- sd-vae: the shipped f = 2 autoencoder (16x16x4) -----------------------------------------------------------

def vae_loss(vae, batch, step, kl_weight: float = 1e-6):
    (x,) = batch
    post = vae.encode(x).latent_dist
    rec = vae.decode(post.sample()).sample
    l1, l2 = (rec - x).abs().mean(), (rec - x).pow(2).mean()
    kl = post.kl().mean() / x[0].numel()
    return l1 + l2 + kl_weight * kl, {"l1": l1.detach(), "l2": l2.detach(), "kl": kl.detach()}


def _vae_card(vae, folder: Path, res: dict, steps: int, batch: int, stage: int, extra: dict | None = None) -> dict:
    from ...data.dataset import to_uint8
    from ...scoring import psnr

    tiny_sd.save_fp16(vae, folder)  # evaluate what is shipped: the weights rounded to fp16
    test = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    rec = reconstruct(vae, to_tensor(test["images"]))
    acc = attribute_accuracy(rec, test["labels"])
    prev = json.loads((folder / "metrics.json").read_text()) if stage == 2 and (folder / "metrics.json").exists() \
        else {}
    metrics = {**{k: v for k, v in prev.items() if k.startswith("stage1") or k.startswith("latent_")},
               f"stage{stage}_steps": steps, f"stage{stage}_wall_min": round(res["wall_s"] / 60, 1),
               "params_M": round(sum(p.numel() for p in vae.parameters()) / 1e6, 3),
               "psnr_test_dB": round(float(psnr(to_uint8(rec), test["images"])), 2),
               **{f"recon_{k}_acc": round(v, 4) for k, v in acc.items()}, **(extra or {})}
    write_card(folder, "sd-vae: the tiny Stable Diffusion's AutoencoderKL (32x32x3 -> 16x16x4)",
          "Stage 1, `python -m genmodels train sd-vae`: encoder + decoder on 100,000 rendered train items, L1 + L2 + "
          f"1e-6 KL, batch {batch}, AdamW 2e-3 cosine; latents then normalised per channel (folded into quant_conv / "
          "post_quant_conv; scaling_factor 1.0). Stage 2, `python -m genmodels train sd-vae-decoder`: encoder frozen "
          "(the latents the UNet learns do not change), decoder fine-tuned with L1 + L2 + image-gradient L1 "
          "(gradient weight 1 for the first 1,600 steps, 2 after; batch 32). "
          "Reconstruction accuracy = the shapes classifier reading the 2,000 test-split reconstructions.", metrics)
    return metrics


_grad_l1 = image_gradient_l1  # genmodels/training.py


class _DecoderGAN(nn.Module):
    """The VAE and a patch discriminator as one module for the shared loop (only the VAE is kept)."""

    def __init__(self, vae):
        super().__init__()
        self.vae, self.disc = vae, PatchDiscriminator()


def _finetune_decoder(folder: Path, steps: int, batch: int, n_train: int, seed: int, run_dir: Path,
                      latent_noise: float = 0.0, hook=None, hook_every: int = 0, gan_weight: float = 0.0):
    """The encoder and the latents stay fixed (a UNet trained on them stays valid); the decoder (+ post_quant_conv)
    is fine-tuned with L1 + L2 + 2 x image-gradient L1, and with ``gan_weight`` > 0 a hinge patch-GAN term (the
    averaging losses alone paint a stripe pattern whose phase the latent does not pin down as its mean, a darker
    flat fill). Returns the fine-tuned VAE and the loop's result."""
    torch.manual_seed(seed)
    vae = load_part("vae", folder.parent)
    vae.requires_grad_(False)
    vae.post_quant_conv.requires_grad_(True)
    vae.decoder.requires_grad_(True)
    x = to_tensor(shapes_arrays("train", n_train)["images"])
    model = _DecoderGAN(vae) if gan_weight else vae

    def loss_fn(m, b, step):
        (xb,) = b
        v = m.vae if gan_weight else m
        with torch.no_grad():
            z = v.encode(xb).latent_dist.mean
            if latent_noise:  # per image sigma ~ U(0, latent_noise): the decoder learns to undo small latent errors
                g = torch.Generator().manual_seed(seed * 7919 + step)
                sigma = torch.rand(len(z), 1, 1, 1, generator=g) * latent_noise
                z = z + sigma.to(z.device) * torch.randn(z.shape, generator=g).to(z.device)
        rec = v.decode(z).sample
        l1, l2, lg = (rec - xb).abs().mean(), (rec - xb).pow(2).mean(), _grad_l1(rec, xb)
        loss, logs = l1 + l2 + 2 * lg, {"l1": l1.detach(), "l2": l2.detach(), "grad": lg.detach()}
        if gan_weight:
            d_loss = F.relu(1 - m.disc(xb)).mean() + F.relu(1 + m.disc(rec.detach())).mean()
            g_adv = -_frozen(m.disc, rec).mean()
            loss = loss + d_loss + gan_weight * g_adv
            logs.update(d=d_loss.detach(), g=g_adv.detach())
        return loss, logs

    cfg = TrainConfig(steps=steps, lr=1e-3, warmup=50, ckpt_every=100, seed=seed, weight_decay=0.0)
    params = [p for p in model.parameters() if p.requires_grad]
    res = train(model, loss_fn, infinite_batches((x,), batch, seed), cfg, run_dir, params=params,
                desc=run_dir.name, hook=(lambda st, net, w: hook(st, net.vae if gan_weight else net, w)) if hook
                else None, hook_every=hook_every)
    model.load_state_dict(res["state_dict"])
    return vae.eval(), res


def train_sd_ae_decoder(steps: int = 800, batch: int = 32, n_train: int = 100_000, seed: int = 1, out=None,
                        run_dir=None, monitor_every: int = 200, gan_weight: float = 0.0) -> dict:
    """Stage 2 of the f = 4 autoencoder: the decoder alone, L1 + L2 + image gradients, without the perceptual and
    adversarial terms of stage 1 (they left a hatched mark beside every object, which the classifier does not
    mind and a person does). The encoder is frozen, so a UNet trained on its latents stays valid."""
    from ...scoring import psnr

    folder = Path(out) if out else tiny_sd.WEIGHTS / tiny_sd.PIPE / "vae"
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"no autoencoder in {folder}: run `python -m genmodels train sd-ae` first")
    run = Path(run_dir or RUNS / "sd-ae-decoder")
    test = shapes_arrays("test", 500)
    log = run / "monitor.jsonl"

    def hook(step, net, wall):
        rec = reconstruct(net.eval(), to_tensor(test["images"]))
        r = {"step": step, "wall_min": round(wall / 60, 1),
             **{k: round(v, 4) for k, v in attribute_accuracy(rec, test["labels"]).items()},
             "psnr_dB": round(float(psnr(to_uint8(rec), test["images"])), 2)}
        with open(log, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("monitor", r, flush=True)

    vae, res = _finetune_decoder(folder, steps, batch, n_train, seed, run, hook=hook, hook_every=monitor_every,
                                 gan_weight=gan_weight)
    stage1 = json.loads((folder / "metrics.json").read_text())
    stage1 = stage1.get("stage1", stage1)
    tiny_sd.save_fp16(vae, folder)
    vae = type(vae).from_pretrained(str(folder)).eval()
    full = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    rec = reconstruct(vae, to_tensor(full["images"]))
    metrics = {"stage1": stage1, "stage2_steps": res["steps"], "stage2_wall_min": round(res["wall_s"] / 60, 1),
               "stage2_batch": batch, "stage2_gan_weight": gan_weight,
               "psnr_test_dB": round(float(psnr(to_uint8(rec), full["images"])), 2),
               **{f"recon_{k}_acc": round(v, 4) for k, v in attribute_accuracy(rec, full["labels"]).items()}}
    if log.exists():
        (folder / "monitor_decoder.jsonl").write_text(log.read_text())
    write_card(folder, "sd-ae: the tiny Stable Diffusion's AutoencoderKL (32x32x3 -> 8x8x8, f = 4)",
               "Stage 1, `python -m genmodels train sd-ae` (numbers under `stage1`): encoder + decoder, L1 + "
               "perceptual (frozen gan-guide features) + VA-VAE alignment + KL + patch GAN. Stage 2, `python -m "
               "genmodels train sd-ae-decoder`: encoder frozen, decoder fine-tuned with L1 + L2 + 2 x image-gradient "
               f"L1{f' + {gan_weight} x hinge patch GAN' if gan_weight else ''}. Reconstruction accuracy = the "
               "scoring classifier reading the 2,000 test-split reconstructions.",
               metrics)
    return metrics
