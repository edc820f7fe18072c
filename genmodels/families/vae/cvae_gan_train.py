"""Training of the embedded CVAE as a CVAE-GAN: ``python -m genmodels train cvae``.

Bao, Chen, Wen, Li, Hua 2017, "CVAE-GAN: Fine-Grained Image Generation through Asymmetric Training",
arXiv:1703.10155. The model is ``ConvVAE(decoder="gan")`` (vae.py): encoder q(z|x, c), a class-conditional generator
as the decoder p(x|z, c) (its image is the likelihood's mean, one calibrated scale per colour channel), prior
N(0, I). Each step trains

- the encoder and the decoder on the ELBO of real items (KL weight ``beta``; the reported ELBO is the true one),
- the decoder on prior samples G(z ~ N(0, I), c) and on label-swapped reconstructions G(z ~ q(z|x, c), c')
  (AttGAN's constraint, ``swap_weight``): the hinge GAN loss of a discriminator (the GAN family's projected
  heads on the frozen guide's features + a pixel D, matching-aware, DiffAugment — the recipe that draws nameable
  shapes there) and the classifier's cross-entropy of the requested shape and colour (the paper's classifier network;
  here the separately trained, adversarially robust ``gan-guide-robust``, never the scoring classifier),
- the discriminator on real items vs prior samples (and real items with mismatched labels).

The decoder starts from the embedded one-pass CGAN generator (``weights/cgan-onepass``, same architecture;
``init_from``), so the prior samples start as that model's shapes and the ELBO teaches the generator to take each
item's pose from z. Why this and not a pixel likelihood alone: seven CVAE recipes here (prior network, sharp head,
sigma-VAE + FiLM, spatial broadcast, code-map CVAE, Fader critic, beta 0.05) drew the requested shape at chance within 45 minutes (docs/experiments).
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from ...checkpoints import safe_load
from ...data.dataset import shapes_arrays
from ...training import ema_update, infinite_batches
from .recipes import labels_tensor, levels, to_float

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@dataclass
class CVAEGANRecipe:
    steps: int = 3600
    batch: int = 32
    lr: float = 2e-4  # G, E and D (Adam(0, 0.99), the CGAN recipe's)
    betas: tuple[float, float] = (0.0, 0.99)
    beta: float = 1.0  # KL weight (1: the ELBO)
    # Weights of G's terms. With 1 / 1 / 1 (first run, 2026-12-07) the gradient norms on G at step 800 were ELBO 1.3,
    # GAN 5.1, classifier 2.7: reconstructions stayed at 12 dB and the requested shape fell 91 -> 79 % in 600 steps
    # (docs/experiments). Bao et al. make the reconstruction the dominant term.
    elbo_weight: float = 10.0  # weight of the negative ELBO in nats per sub-pixel
    adv_weight: float = 1.0
    guide_weight: float = 2.0
    # ((from_step, weight), ...): later weights of the classifier term. From 1,400 it is 4: with 2 the prior samples'
    # shape rose only ~1 point per 200 steps (84 -> 85 -> 85 % at 800 / 1,000 / 1,200) while the reconstructions kept
    # improving (19.0 -> 19.7 dB).
    guide_stages: tuple[tuple[int, float], ...] = ((1400, 4.0),)
    reward: str = "gan-guide-robust"
    mismatch: float = 0.5
    # AttGAN's attribute-classification constraint on edited outputs (He, Zuo, Kan, Shan, Chen 2019, arXiv:1711.10678):
    # each item's posterior z is also decoded under a changed shape / colour, and the classifier (and D) judge that
    # image for the new labels — so the decoder takes shape and colour from the label for every z, not only for the
    # prior's. Without it (second run) the reconstructions' label swap fell 32 -> 22 % and prior samples' shape 88 ->
    # 78 % over 600 steps: the decoder learned to read the shape from z.
    swap_weight: float = 1.0
    # The decoder's batch norms keep the statistics of the generator it starts from (eval mode; their scales and
    # shifts still train). In train mode a batch mixes posterior, prior and swapped z's whose statistics differ from
    # the prior samples' at test time; with it (third run) shape fell 96 -> 77 % and objects in pieces rose 20 -> 41 %
    # in 600 steps. A fresh D is first trained alone for ``d_warmup`` steps against the frozen decoder.
    frozen_bn: bool = True
    d_warmup: int = 200
    ema: float = 0.999
    # the decoder starts from this embedded generator (None: from scratch): the one-pass CGAN, the CGAN's generator
    # before it became layered (its weights stay in weights/cgan-onepass for this)
    init_from: str | None = "cgan-onepass"
    # A layered decoder only (``decoder="layered-gan"`` / ``"layered-albedo-gan"``): weight of the decoder's term from
    # the GAN family's mask discriminator (layered.MaskDiscriminator: its placed mask against the domain's
    # ground-truth masks of the requested shape) on prior samples and swapped reconstructions; 0: none. Why: started
    # from the layered CGAN (hearts 94-98 %), the CVAE-GAN's prior samples drew hearts as beans within 200 steps
    # (read as circles 98 %, every other class 100 %; step 800, N = 600) — the fix that brought the CGAN's back.
    mask_d: float = 0.0
    monitor_every: int = 200
    n_train: int = 60_000
    config: dict = field(default_factory=lambda: dict(latent=128, width=48, n_shapes=6, n_colours=6, decoder="gan",
                                                      g_width=128))


CVAE_GAN = CVAEGANRecipe()


@torch.no_grad()
def standing_stats(model, n_batches: int = 16, batch: int = 64, seed: int = 0) -> None:
    """The decoder's batch-norm statistics recomputed from prior samples (the EMA weights do not match the raw
    model's running statistics; BigGAN's standing statistics, as the GAN family does)."""
    from ..gan.recipes import balanced_labels
    from ..gan.train import recompute_bn

    gen = torch.Generator().manual_seed(seed)
    G = model.generator

    def one(i):
        G(torch.randn(batch, model.latent, generator=gen), balanced_labels(batch, seed + i)[:, :2])

    recompute_bn(G, one, n_batches)
    model.eval()


def _bn_eval(model) -> None:
    for m in model.generator.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _monitor(model, path: Path, step: int, wall: float, tx: torch.Tensor, tlab: torch.Tensor,
             frozen_bn: bool) -> dict:
    from ...scoring.pixel import psnr
    from ...scoring.readout import read_shapes
    from .evaluate import cvae_class_accuracy, cvae_samples, label_swap_rate
    from .recipes import to_images

    net = copy.deepcopy(model).cpu()
    if not frozen_bn:
        standing_stats(net)
    net.eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        rec = {"step": step, "wall_min": round(wall / 60, 2),
               "test_elbo_bpd_256": round(float(net.elbo_bits_per_dim(tx, tlab[:, 0], tlab[:, 1], g).mean()), 4)}
        rec.update(cvae_class_accuracy(net, 300, seed=step))
        recon = to_images(net.reconstruct(tx, tlab[:, 0], tlab[:, 1]))
        rec["recon_psnr_256"] = round(psnr(recon, to_images(tx)), 2)
        rec["label_swap_shape_256"] = round(label_swap_rate(net, tx, tlab), 4)
        images, s, _ = cvae_samples(net, 300, seed=step)
        reading = read_shapes(images, s).summary()
        rec["shape_by_outline_300"], rec["pieces_300"] = round(reading["outline"], 4), round(reading["pieces"], 4)
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print("monitor", rec, flush=True)
    return rec


def train_cvae_gan(steps: int | None = None, out: str | None = None, run_dir: str | None = None, seed: int = 0,
                   eval_n: int = 2000, config: dict | None = None, **overrides) -> dict:
    """Train (or resume from ``run_dir/ckpt.pt``) the CVAE-GAN; writes the weights, monitor and card to ``out``.
    ``config`` entries replace the recipe's model config (tests: tiny sizes); other keywords replace recipe fields."""
    from accelerate.utils import set_seed

    from ...training import accelerator, out_of_time
    from ..autoregressive.pixelcnnpp import mixture_log_prob
    from ..gan.dcgan import DCGANDiscriminator
    from ..gan.projected import ProjectedDiscriminator, diff_augment, load_guide
    from ..gan.train import mismatched
    from .evaluate import write_card
    from .vae import ConvVAE

    r = replace(CVAE_GAN, **overrides)
    r = replace(r, config={**r.config, **(config or {})})
    steps = steps or r.steps
    set_seed(seed)
    acc = accelerator()
    dev = acc.device
    guide = load_guide().to(dev)
    judge = load_guide(WEIGHTS / r.reward).to(dev) if r.reward else guide
    out = Path(out or WEIGHTS / "cvae")
    run = Path(run_dir or "runs/cvae")
    run.mkdir(parents=True, exist_ok=True)
    arr = shapes_arrays("train", r.n_train)
    x_all, lab_all = levels(arr["images"]), labels_tensor(arr)
    test = shapes_arrays("test", 256)
    tx, tlab = levels(test["images"]).long(), labels_tensor(test)
    model = ConvVAE(**r.config)
    n_classes = (model.n_shapes, model.n_colours)
    D = nn.ModuleDict({"proj": ProjectedDiscriminator(guide.widths, n_classes=n_classes),
                       "pix": DCGANDiscriminator(n_classes=n_classes)})
    ckpt = run / "ckpt.pt"
    step, wall = 0, 0.0
    if not ckpt.exists() and r.init_from:
        src = type(model.generator).from_pretrained(str(WEIGHTS / r.init_from))
        model.generator.load_state_dict(src.state_dict())  # a size mismatch raises: the recipe's sizes are the CGAN's
        acc.print(f"decoder initialised from the embedded {r.init_from} generator")
    model_ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(model.parameters(), lr=r.lr, betas=r.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=r.lr, betas=r.betas)
    masked = bool(r.mask_d)
    if masked:  # the GAN family's mask discriminator, its own optimiser, real masks with their shape labels
        if not hasattr(model.generator, "pose_params"):
            raise ValueError("mask_d needs a layered decoder (decoder='layered-gan' or 'layered-albedo-gan')")
        from ..gan.layered import MaskDiscriminator, mask_d_loss, mask_g_loss, real_mask_batches

        get_mask = real_mask_batches(r.n_train, r.batch, seed + 1)
        D_mask = MaskDiscriminator(model.n_shapes)
        opt_dm = torch.optim.Adam(D_mask.parameters(), lr=r.lr, betas=r.betas)
    if ckpt.exists():
        st = safe_load(ckpt)
        for m, k in ((model, "model"), (D, "D"), (model_ema, "ema"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            m.load_state_dict(st[k])
        if masked and "D_mask" in st:
            D_mask.load_state_dict(st["D_mask"])
            opt_dm.load_state_dict(st["opt_dm"])
        step, wall = int(st["step"]), float(st["wall"])
        acc.print(f"resuming cvae from step {step} ({wall / 60:.1f} min so far)")
    model.to(dev).train()
    if r.frozen_bn:
        _bn_eval(model)
    warm = r.d_warmup if step == 0 and r.init_from else 0
    D.to(dev)
    if masked:
        D_mask.to(dev)
    model_ema.to(dev)
    get = infinite_batches((x_all, lab_all), r.batch, seed)
    gen = torch.Generator().manual_seed(seed + step)
    dims = math.log(2) * 3 * x_all.shape[-1] * x_all.shape[-2]

    def view(img):
        aug = diff_augment(img, gen)
        return aug, guide.features(aug)

    def d_of(seen, y):
        aug, feats = seen
        return [D["proj"](feats, y), D["pix"](aug, y)]

    def hinge(outs, sign):  # sign +1: the "real" side, -1: the "fake" side
        return sum(F.relu(1 - sign * o.float()).mean() for o in outs)

    def save():
        st = {"model": model.state_dict(), "D": D.state_dict(), "ema": model_ema.state_dict(),
              "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": torch.tensor(step),
              "wall": torch.tensor(wall)}
        if masked:
            st.update(D_mask=D_mask.state_dict(), opt_dm=opt_dm.state_dict())
        torch.save(st, run / "ckpt.tmp")
        (run / "ckpt.tmp").replace(ckpt)

    bar = tqdm(total=steps, initial=step, desc="cvae")
    while step < steps and not out_of_time():
        t0 = time.perf_counter()
        x_lv, lab = (t.to(dev) for t in get(step + warm))
        x_lv = x_lv.long()
        x, y = to_float(x_lv), lab[:, :2]
        z_p = torch.randn(len(x), model.latent, generator=gen).to(dev)
        # D: real items vs prior samples, and real items under mismatched labels
        with torch.no_grad():
            fake = model.generator(z_p, y, with_mask=True) if masked else model.generator(z_p, y)
        if masked:
            fake, fake_mask = fake
        real_seen = view(x)
        d_loss = hinge(d_of(view(fake), y), -1) + hinge(d_of(real_seen, y), 1) + \
            r.mismatch * hinge(d_of(real_seen, mismatched(y, gen)), -1)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        if masked:  # the mask D: the domain's masks vs the prior samples' placed masks
            m_real, s_real = (t.to(dev) for t in get_mask(step + warm))
            dm_loss = mask_d_loss(D_mask, m_real, s_real, fake_mask, y[:, 0])
            opt_dm.zero_grad(set_to_none=True)
            dm_loss.backward()
            opt_dm.step()
        if warm:  # D alone against the decoder it starts from; the step count waits
            warm -= 1
            wall += time.perf_counter() - t0
            continue
        # E + G: the ELBO of the real items, and the GAN + classifier terms of prior samples, in one decoder pass
        mu, logvar = model.encode(x_lv, y[:, 0], y[:, 1])
        eps = torch.randn(mu.shape, generator=gen).to(dev)
        z_q = mu + eps * (0.5 * logvar).exp()
        z_p = torch.randn(z_p.shape, generator=gen).to(dev)
        n = len(x)
        y_swap = mismatched(y, gen) if r.swap_weight else y[:0]
        z_all, y_all = torch.cat([z_q, z_p, z_q[:len(y_swap)]]), torch.cat([y, y, y_swap])
        dec = model.generator(z_all, y_all, with_mask=True) if masked else model.generator(z_all, y_all)
        if masked:
            dec, dec_mask = dec
        rec_mean, fake = dec[:n], dec[n:]  # fake: prior samples, then the swapped reconstructions
        y_fake = torch.cat([y, y_swap])
        params = model.gan_params(rec_mean)
        model._calibrate(params, x_lv)
        params = model.gan_params(rec_mean)
        nll = -mixture_log_prob(params, x_lv, 1).flatten(1).sum(1)
        kl = model._kl(mu, logvar, None, None)
        elbo_bpd = ((nll + kl) / dims).mean()
        vae_loss = ((nll + r.beta * kl) / dims).mean()
        seen = view(fake)
        adv = -sum(o.float().mean() for o in d_of(seen, y_fake))
        logits = judge.logits(seen[1]) if judge is guide else judge(seen[0])
        weights = torch.cat([torch.ones(n), torch.full((len(y_swap),), r.swap_weight)]).to(dev)
        cls = sum((F.cross_entropy(logits[k].float(), y_fake[:, i], reduction="none") * weights).mean()
                  for i, k in enumerate(("shape", "colour")))
        w_cls = next((w for start, w in reversed(r.guide_stages) if step >= start), r.guide_weight)
        g_loss = r.elbo_weight * vae_loss + r.adv_weight * adv + w_cls * cls
        if masked:
            g_loss = g_loss + r.mask_d * mask_g_loss(D_mask, dec_mask[n:], y_fake[:, 0])
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        ema_update(model_ema, model, r.ema, step)
        step += 1
        wall += time.perf_counter() - t0
        bar.update(1)
        if step % 25 == 0:
            bar.set_postfix(elbo=f"{float(elbo_bpd):.3f}", kl=f"{float(kl.mean()):.0f}",
                            adv=f"{float(adv):.2f}", cls=f"{float(cls):.3f}", d=f"{float(d_loss):.2f}")
        if step % 100 == 0 or step == steps:
            save()
        if r.monitor_every and step % r.monitor_every == 0:
            _monitor(model_ema, run / "monitor.jsonl", step, wall, tx, tlab, r.frozen_bn)
    bar.close()
    save()
    final = copy.deepcopy(model_ema).cpu().eval()
    if not r.frozen_bn:
        standing_stats(final)
    out.mkdir(parents=True, exist_ok=True)
    final.save_pretrained(out)
    if (run / "monitor.jsonl").exists():
        (out / "monitor.jsonl").write_text((run / "monitor.jsonl").read_text())
    return write_card("cvae", final, out, r, step, wall, None, eval_n,
                      recipe_ref="`CVAE_GAN` in `genmodels/families/vae/cvae_gan_train.py`")
