"""Training commands of the tiny Stable Diffusion: ``python -m genmodels train sd-vae | sd-text | sd-unet |
controlnet | noisy-classifier | noisy-clip``.

Each part trains with the shared loop (``genmodels.training``: accelerate, tqdm, resumable ``runs/<part>/ckpt.pt``)
and is written to ``genmodels/weights/<part>`` with ``save_pretrained`` and a model card. Order: sd-vae, sd-text,
then sd-unet (needs both), then controlnet / noisy-classifier / noisy-clip (need the VAE; noisy-clip the text
encoder). Losses: the VAE as in LDM (L1 + L2 reconstruction + a tiny KL), the UNet with v-prediction (Salimans &
Ho 2022, arXiv:2202.00512) and min-SNR-5 loss weighting (Hang et al. 2023, arXiv:2303.09556), 10 % empty
captions for classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...checkpoints import safe_load
from ...data import shapes
from ...data.dataset import shapes_arrays, to_tensor
from ...training import TrainConfig, accelerator, infinite_batches, train
from . import tiny_sd

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
RUNS = Path("runs")
PIPE = "tiny-sd"  # the embedded pipeline folder under genmodels/weights (SD 1.x layout)


def _out(part: str, out) -> Path:
    return Path(out) if out else WEIGHTS / part


def _card(folder: Path, title: str, body: str, metrics: dict) -> None:
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in metrics.items())
    (folder / "README.md").write_text(f"# {title}\n\n{body}\n\n| measure | value |\n|---|---|\n{rows}\n")


# ---- sd-vae -----------------------------------------------------------------------------------------------------

def vae_loss(vae, batch, step, kl_weight: float = 1e-6):
    (x,) = batch
    post = vae.encode(x).latent_dist
    rec = vae.decode(post.sample()).sample
    l1, l2 = (rec - x).abs().mean(), (rec - x).pow(2).mean()
    kl = post.kl().mean() / x[0].numel()
    return l1 + l2 + kl_weight * kl, {"l1": l1.detach(), "l2": l2.detach(), "kl": kl.detach()}


@torch.no_grad()
def latent_stats(vae, images: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.cat([vae.encode(images[i:i + batch]).latent_dist.mean for i in range(0, len(images), batch)])
    return z.mean((0, 2, 3)), z.std((0, 2, 3))


@torch.no_grad()
def reconstruct(vae, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([vae.decode(vae.encode(images[i:i + batch]).latent_dist.mean).sample
                      for i in range(0, len(images), batch)])


def attribute_accuracy(images, labels: np.ndarray) -> dict[str, float]:
    """Share of images whose attributes the domain classifier reads as ``labels`` (columns of LABEL_COLUMNS)."""
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    return {k: float((pred[k] == labels[:, shapes.LABEL_COLUMNS.index(k)]).mean())
            for k in ("shape", "colour", "fill", "background")}


def train_sd_vae(steps: int = 1500, batch: int = 64, n_train: int = 100_000, seed: int = 0, out=None,
                 run_dir=None) -> dict:
    torch.manual_seed(seed)
    vae = tiny_sd.build_vae()
    x = to_tensor(shapes_arrays("train", n_train)["images"])
    cfg = TrainConfig(steps=steps, lr=2e-3, warmup=100, ckpt_every=100, seed=seed, ema=None, weight_decay=0.0)
    res = train(vae, vae_loss, infinite_batches((x,), batch, seed), cfg, run_dir or RUNS / "sd-vae", desc="sd-vae")
    vae.load_state_dict(res["state_dict"])
    vae.eval()
    mean, std = latent_stats(vae, x[:8192])
    tiny_sd.fold_latent_normalisation(vae, mean, std)
    extra = {"latent_mean_before_fold": [round(float(v), 3) for v in mean],
             "latent_std_before_fold": [round(float(v), 3) for v in std]}
    return _vae_card(vae, _out(PIPE, out) / "vae", res, steps, batch, stage=1, extra=extra)


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
    _card(folder, "sd-vae: the tiny Stable Diffusion's AutoencoderKL (32x32x3 -> 16x16x4)",
          "Stage 1, `python -m genmodels train sd-vae`: encoder + decoder on 100,000 rendered train items, L1 + L2 + "
          f"1e-6 KL, batch {batch}, AdamW 2e-3 cosine; latents then normalised per channel (folded into quant_conv / "
          "post_quant_conv; scaling_factor 1.0). Stage 2, `python -m genmodels train sd-vae-decoder`: encoder frozen "
          "(the latents the UNet learns do not change), decoder fine-tuned with L1 + L2 + image-gradient L1 "
          "(gradient weight 1 for the first 1,600 steps, 2 after; batch 32). "
          "Reconstruction accuracy = the shapes classifier reading the 2,000 test-split reconstructions.", metrics)
    return metrics


def _grad_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences: keeps corners and edges sharp."""
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


def train_sd_vae_decoder(steps: int = 800, batch: int = 32, n_train: int = 100_000, seed: int = 1, out=None,
                         run_dir=None, latent_noise: float = 0.0) -> dict:
    """Stage 2 of the VAE (as SD's ft-MSE decoder): the encoder and the latents stay fixed, so a UNet trained on
    them stays valid; the decoder is fine-tuned with L1 + L2 + an image-gradient L1 term for sharper corners (weight
    1 for the embedded model's first 1,600 steps, 2 from there on: small shapes lost their corners)."""
    torch.manual_seed(seed)
    folder = _out(PIPE, out) / "vae"
    vae = load_part("vae", folder.parent)
    vae.requires_grad_(False)
    vae.post_quant_conv.requires_grad_(True)
    vae.decoder.requires_grad_(True)
    x = to_tensor(shapes_arrays("train", n_train)["images"])

    def loss_fn(m, b, step):
        (xb,) = b
        with torch.no_grad():
            z = m.encode(xb).latent_dist.mean
            if latent_noise:  # per image sigma ~ U(0, latent_noise): the decoder learns to undo small latent errors
                g = torch.Generator().manual_seed(seed * 7919 + step)
                sigma = torch.rand(len(z), 1, 1, 1, generator=g) * latent_noise
                z = z + sigma.to(z.device) * torch.randn(z.shape, generator=g).to(z.device)
        rec = m.decode(z).sample
        l1, l2, lg = (rec - xb).abs().mean(), (rec - xb).pow(2).mean(), _grad_l1(rec, xb)
        return l1 + l2 + 2 * lg, {"l1": l1.detach(), "l2": l2.detach(), "grad": lg.detach()}

    cfg = TrainConfig(steps=steps, lr=1e-3, warmup=50, ckpt_every=100, seed=seed, weight_decay=0.0)
    params = [p for p in vae.parameters() if p.requires_grad]
    res = train(vae, loss_fn, infinite_batches((x,), batch, seed), cfg, run_dir or RUNS / "sd-vae-decoder",
                params=params, desc="sd-vae-decoder")
    vae.load_state_dict(res["state_dict"])
    vae.eval()
    return _vae_card(vae, folder, res, steps, batch, stage=2)


# ---- sd-text ----------------------------------------------------------------------------------------------------


def caption_of(labels_row) -> str:
    s, c, f, b, z = (int(v) for v in labels_row[:5])
    return (f"a {shapes.SIZES[z]} {shapes.COLOUR_NAMES[c]} {shapes.FILLS[f]} {shapes.SHAPES[s]} "
            f"on a {shapes.BACKGROUNDS[b]} background")


def text_config(vocab_size: int, small: bool = False):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=vocab_size, hidden_size=32 if small else tiny_sd.TEXT_DIM,
                          intermediate_size=64 if small else 256, num_hidden_layers=1 if small else 2,
                          num_attention_heads=2 if small else 4, max_position_embeddings=tiny_sd.MAX_TOKENS,
                          bos_token_id=0, eos_token_id=1, pad_token_id=1, projection_dim=tiny_sd.TEXT_DIM)


def tokenize(tokenizer, texts: list[str]) -> torch.Tensor:
    return tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt")["input_ids"]


class _PixelTower(torch.nn.Module):
    """Image side used only to train the text encoder contrastively (discarded afterwards)."""

    def __init__(self, dim: int):
        super().__init__()
        c = [3, 32, 64, 128]
        layers = []
        for a, b in zip(c, c[1:]):
            layers += [torch.nn.Conv2d(a, b, 3, padding=1), torch.nn.GroupNorm(8, b), torch.nn.SiLU(),
                       torch.nn.AvgPool2d(2)]
        self.net = torch.nn.Sequential(*layers)
        self.proj = torch.nn.Linear(128, dim)

    def forward(self, x):
        return F.normalize(self.proj(self.net(x).mean((2, 3))), dim=-1)


class _TextCLIP(torch.nn.Module):
    def __init__(self, vocab_size: int):
        super().__init__()
        from transformers import CLIPTextModel

        self.text = CLIPTextModel(text_config(vocab_size))
        self.text_proj = torch.nn.Linear(tiny_sd.TEXT_DIM, tiny_sd.TEXT_DIM)
        self.image = _PixelTower(tiny_sd.TEXT_DIM)
        self.logit_scale = torch.nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))


def _soft_clip_loss(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE; pairs with the same caption are all positives."""
    logits = scale.clamp(max=100) * img @ txt.T
    same = (ids[:, None] == ids[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    return (-(target * F.log_softmax(logits, 1)).sum(1).mean() - (target * F.log_softmax(logits.T, 1)).sum(1).mean()) / 2


def caption_table(n_train: int) -> tuple[list[str], torch.Tensor, np.ndarray]:
    """The unique captions of the first ``n_train`` train items, each item's caption index, and the labels."""
    labels = shapes_arrays("train", n_train)["labels"]
    caps = [caption_of(r) for r in labels]
    uniq = sorted(set(caps))
    index = {c: i for i, c in enumerate(uniq)}
    return uniq, torch.tensor([index[c] for c in caps]), labels


def train_sd_text(steps: int = 1500, batch: int = 256, n_train: int = 100_000, seed: int = 0, out=None,
                  run_dir=None) -> dict:
    from transformers import CLIPTokenizer

    from ...scoring.domain_nets import write_tokenizer

    torch.manual_seed(seed)
    folder = _out(PIPE, out)
    write_tokenizer(folder / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    uniq, cap_ids, _ = caption_table(n_train)
    tokens = tokenize(tokenizer, uniq)
    images = to_tensor(shapes_arrays("train", n_train)["images"])
    model = _TextCLIP(len(tokenizer))

    def loss_fn(m, b, step):
        x, cid = b
        txt = F.normalize(m.text_proj(m.text(input_ids=tokens[cid]).pooler_output), dim=-1)
        loss = _soft_clip_loss(m.image(x), txt, m.logit_scale.exp(), cid)
        return loss, {"loss": loss.detach()}

    cfg = TrainConfig(steps=steps, lr=1e-3, weight_decay=0.01, warmup=100, seed=seed)
    res = train(model, loss_fn, infinite_batches((images, cap_ids), batch, seed), cfg, run_dir or RUNS / "sd-text",
                desc="sd-text")
    model.load_state_dict(res["state_dict"])
    model.eval()
    test = shapes_arrays("test", 1000)
    tcaps = sorted({caption_of(r) for r in test["labels"]})
    with torch.no_grad():
        img = model.image(to_tensor(test["images"]))
        txt = F.normalize(model.text_proj(model.text(input_ids=tokenize(tokenizer, tcaps)).pooler_output), dim=-1)
    truth = torch.tensor([tcaps.index(caption_of(r)) for r in test["labels"]])
    top1 = float(((img @ txt.T).argmax(1) == truth).float().mean())
    model.text.save_pretrained(str(folder / "text_encoder"))
    metrics = {"steps": steps, "wall_min": round(res["wall_s"] / 60, 1),
               "params_M": round(sum(p.numel() for p in model.text.parameters()) / 1e6, 3),
               "test_caption_retrieval_top1": round(top1, 4), "n_captions_test": len(tcaps)}
    (folder / "text_encoder" / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


# ---- sd-unet ----------------------------------------------------------------------------------------------------

def load_part(part: str, folder=None):
    """One part of the embedded (or given) pipeline folder: vae, text_encoder, tokenizer, unet, scheduler."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    root = Path(folder) if folder else WEIGHTS / PIPE
    cls = {"vae": AutoencoderKL, "text_encoder": CLIPTextModel, "tokenizer": CLIPTokenizer,
           "unet": UNet2DConditionModel, "scheduler": DDPMScheduler}[part]
    obj = cls.from_pretrained(str(root / part))
    return obj.float().eval() if hasattr(obj, "eval") else obj  # stored in fp16; train / run in float32


@torch.no_grad()
def encode_latents(vae, images: torch.Tensor, batch: int = 512) -> torch.Tensor:
    return torch.cat([vae.encode(images[i:i + batch]).latent_dist.mean for i in range(0, len(images), batch)])


@torch.no_grad()
def text_hidden(text_encoder, tokenizer, texts: list[str]) -> torch.Tensor:
    return text_encoder(input_ids=tokenize(tokenizer, texts)).last_hidden_state


def _cached(path: Path, make):
    if path.exists():
        return safe_load(path)
    value = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(value, path)
    return value


def train_latents(vae, folder, n_train: int) -> torch.Tensor:
    """VAE latent means of the first ``n_train`` train items, cached per *encoder* weights (rounded to fp16, so a
    decoder fine-tune or an fp16 save does not invalidate the cache)."""
    import hashlib

    from ...data.dataset import cache_dir

    h = hashlib.sha1()
    for name, t in sorted({**dict(vae.encoder.state_dict()), **{f"q.{k}": v for k, v in
                                                                vae.quant_conv.state_dict().items()}}.items()):
        h.update(name.encode())
        h.update(t.detach().half().numpy().tobytes())
    return _cached(cache_dir() / "sd-latents" / f"{h.hexdigest()[:16]}-{n_train}.pt",
                   lambda: encode_latents(vae, to_tensor(shapes_arrays("train", n_train)["images"])))


def min_snr_weight(abar: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Min-SNR-gamma weights for a v-prediction loss: min(SNR, gamma) / (SNR + 1)."""
    snr = abar / (1 - abar)
    return snr.clamp(max=gamma) / (snr + 1)


def conditioning_monitor(unet, vae, text_encoder, tokenizer, n: int = 96, steps: int = 20, cfg: float = 3.0,
                         seed: int = 0) -> dict:
    """Attribute accuracy of samples for ``n`` test-split captions (DDIM, ``steps``, CFG ``cfg``)."""
    from diffusers import DDIMScheduler

    from .guidance import denoise

    labels = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)["labels"][:n]
    caps = [caption_of(r) for r in labels]
    cond = text_hidden(text_encoder, tokenizer, caps)
    uncond = text_hidden(text_encoder, tokenizer, [""])
    sched = DDIMScheduler.from_config(tiny_sd.default_scheduler().config)
    g = torch.Generator().manual_seed(seed)
    z = denoise(unet, sched, cond, uncond, steps=steps, cfg=cfg, generator=g)
    with torch.no_grad():
        images = vae.decode(z).sample.clamp(-1, 1)
    acc = attribute_accuracy(images, labels)
    pred_all = np.ones(n, bool)
    from ...scoring.backbones import get_backbone

    pred = get_backbone("shapes").attribute_predictions(images)
    for k in ("shape", "colour", "fill"):
        pred_all &= pred[k] == labels[:, shapes.LABEL_COLUMNS.index(k)]
    return {**acc, "class_colour_fill": float(pred_all.mean())}


def _stash_output(module, inputs, output) -> None:
    module._repa_out = output  # read (and removed) by RepaUNet.forward; a plain function, so deepcopy is safe


class RepaUNet(torch.nn.Module):
    """REPA (Yu et al. 2024, "Representation Alignment for Generation", arXiv:2410.06940): the UNet's mid-block
    hidden states of the *noisy* latent, through a small MLP projector (1×1 convs), are pulled towards a frozen
    encoder's features of the *clean* image by a per-location cosine loss; the paper reports 17.5× faster
    convergence of SiT on ImageNet with DINOv2 targets. Here the frozen encoder is the gan-guide network (a
    separately trained shapes net, never the scoring classifier), its 4×4 stage, the mid block's resolution. At high
    noise the only way to predict the clean image's shape features is to read them from the caption, which is the
    path the plain loss leaves unused (docs/experiments: the caption moved the shape of the clean estimate by ≤ 5
    points). Only the UNet is saved; the projector is a training device."""

    def __init__(self, unet, target_dim: int, hidden: int = 256):
        super().__init__()
        self.unet = unet
        c = unet.config.block_out_channels[-1]
        self.proj = torch.nn.Sequential(torch.nn.Conv2d(c, hidden, 1), torch.nn.SiLU(),
                                        torch.nn.Conv2d(hidden, hidden, 1), torch.nn.SiLU(),
                                        torch.nn.Conv2d(hidden, target_dim, 1))
        unet.mid_block.register_forward_hook(_stash_output)

    def forward(self, *args, **kwargs):
        out = self.unet(*args, **kwargs)
        return out, self.proj(self.unet.mid_block.__dict__.pop("_repa_out"))


def train_sd_unet(steps: int = 6000, batch: int = 64, n_train: int = 60_000, seed: int = 0, out=None,
                  run_dir=None, monitor_every: int = 500, guide_weight: float = 0.0, init: str | None = None,
                  text_time: bool = False, lr: float | None = None, repa: float = 0.0) -> dict:
    """The UNet with the v-prediction / min-SNR loss. ``guide_weight`` > 0 adds a reward on the one-step clean
    estimate, as in ReFL (Xu et al. 2023, "ImageReward", arXiv:2304.05977): x0 = sqrt(abar) z_t - sqrt(1-abar) v is
    decoded by the frozen VAE and the frozen *gan-guide* network (never the scoring classifier) must read the
    caption's shape / colour / fill / background in it; the diffusion loss stays as the regulariser. ``init``:
    a pipeline folder whose UNet to start from ("embedded" = the shipped one) instead of a random UNet. ``repa`` > 0
    adds REPA's alignment loss with this weight (``RepaUNet``; the paper's λ is 0.5)."""
    torch.manual_seed(seed)
    folder = _out(PIPE, out)
    run = Path(run_dir or RUNS / ("sd-unet-guided" if guide_weight else "sd-unet"))
    vae, text_encoder, tokenizer = load_part("vae", folder), load_part("text_encoder", folder), \
        load_part("tokenizer", folder)
    uniq, cap_ids, labels = caption_table(n_train)
    lat = train_latents(vae, folder, n_train)
    hid = text_hidden(text_encoder, tokenizer, uniq + [""])  # the last row: the empty caption (for CFG)
    empty = len(uniq)
    sched = tiny_sd.default_scheduler()
    abar_all = sched.alphas_cumprod.float()
    unet = load_part("unet", WEIGHTS / PIPE if init == "embedded" else init) if init else \
        tiny_sd.build_unet(text_time=text_time)
    guide = None
    if guide_weight:
        from ..gan.projected import GUIDE_HEADS, load_guide

        guide = load_guide()
        vae.requires_grad_(False)
        attrs = torch.from_numpy(labels[:, [shapes.LABEL_COLUMNS.index(k) for k in GUIDE_HEADS]]).long()
    else:
        attrs = torch.zeros(len(cap_ids), 0, dtype=torch.long)
    net, images = unet, None
    if repa:
        from ..gan.projected import load_guide

        encoder = load_guide().requires_grad_(False)
        images = torch.from_numpy(shapes_arrays("train", n_train)["images"]).permute(0, 3, 1, 2).contiguous()
        # Targets standardised per channel: the guide's maps come after a SiLU, so raw vectors all point one way
        # (cosine 0.91 within 150 steps, before anything was learned); standardised, only what tells images apart
        # is left to align.
        with torch.no_grad():
            f = encoder.features(images[:2048].float().div(127.5).sub(1.0))[-1]
        f_mean, f_std = f.mean((0, 2, 3), keepdim=True), f.std((0, 2, 3), keepdim=True).clamp_min(1e-4)
        net = RepaUNet(unet, encoder.widths[-1])
    index = torch.arange(len(cap_ids))

    def loss_fn(m, b, step):
        z0, cid, y, idx = b
        dev = z0.device
        g = torch.Generator().manual_seed(seed * 7919 + step)
        drop = (torch.rand(len(cid), generator=g) < 0.1).to(dev)
        cid = torch.where(drop, torch.full_like(cid, empty), cid)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(z0),), generator=g).to(dev)
        noise = torch.randn(z0.shape, generator=g).to(dev)
        abar = abar_all.to(dev)[t].view(-1, 1, 1, 1)
        zt = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
        v = abar.sqrt() * noise - (1 - abar).sqrt() * z0
        out = m(zt, t, encoder_hidden_states=hid.to(dev)[cid])
        if repa:
            out, h = out
        pred = out.sample
        w = min_snr_weight(abar.flatten())
        loss = (w * (pred - v).pow(2).mean((1, 2, 3))).mean()
        logs = {"loss": loss.detach()}
        if repa:
            with torch.no_grad():
                x = images[idx.cpu()].float().div(127.5).sub(1.0).to(dev)
                target = (encoder.to(dev).features(x)[-1] - f_mean.to(dev)) / f_std.to(dev)
            align = -F.cosine_similarity(h, target, dim=1).mean()
            loss = loss + repa * align
            logs["repa_cos"] = -align.detach()
        if guide is not None:
            keep = ~drop  # the reward needs the caption: not on the 10 % unconditional rows
            x0 = abar.sqrt() * zt - (1 - abar).sqrt() * pred
            logits = guide.to(dev)(vae.to(dev).decode(x0[keep]).sample)
            reward = sum(F.cross_entropy(logits[k], y[keep, j]) for j, k in enumerate(GUIDE_HEADS))
            loss = loss + guide_weight * reward
            logs["guide_ce"] = reward.detach()
        return loss, logs

    log = run / "monitor.jsonl"

    def hook(step, net, wall):  # on a CPU copy: the VAE and text encoder stay on the CPU
        import copy

        plain = net.unet if isinstance(net, RepaUNet) else net
        r = conditioning_monitor(copy.deepcopy(plain).cpu().eval(), vae, text_encoder, tokenizer)
        r.update(step=step, wall_min=round(wall / 60, 1))
        with open(log, "a") as f:
            f.write(json.dumps(r) + "\n")
        print("monitor", r, flush=True)

    # a fine-tune (``init``) starts at a third of the learning rate with a shorter EMA
    cfg = TrainConfig(steps=steps, lr=lr or (3e-4 if init else 1e-3), weight_decay=0.01, warmup=50 if init else 200,
                      ckpt_every=100, seed=seed, ema=0.995 if init else 0.999)
    res = train(net, loss_fn, infinite_batches((lat, cap_ids, attrs, index), batch, seed), cfg, run, desc="sd-unet",
                hook=hook, hook_every=monitor_every)
    state = res["state_dict"]
    if repa:  # the projector is not part of the model
        state = {k[len("unet."):]: v for k, v in state.items() if k.startswith("unet.")}
    unet.load_state_dict(state)
    unet.eval()
    vae = load_part("vae", folder)  # from disk: the decoder may have been fine-tuned meanwhile (sd-vae-decoder)
    base = folder / "unet" / "train.json"
    previous = json.loads(base.read_text()) if (init and base.exists()) else None
    tiny_sd.save_pipeline(folder, vae, unet, text_encoder, tokenizer, fp16=True)
    metrics = {"steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 1), "batch": batch, "lr": cfg.lr,
               "params_M": round(sum(p.numel() for p in unet.parameters()) / 1e6, 3),
               "device": str(accelerator().device)}
    if text_time:
        metrics["text_time_embedding"] = True
    if guide_weight:
        metrics["guide reward weight (gan-guide, ReFL-style)"] = guide_weight
    if repa:
        metrics["REPA weight (gan-guide 4x4 features, mid block)"] = repa
    if previous is not None:  # a fine-tune: keep the record of the run it started from
        metrics = {"fine-tune": metrics, "base": previous.get("base", previous)}
    base.write_text(json.dumps(metrics, indent=2) + "\n")
    if log.exists():
        (folder / "unet" / ("monitor_guided.jsonl" if guide_weight else "monitor.jsonl")).write_text(log.read_text())
    return metrics


# ---- noisy-classifier / noisy-clip (guidance nets on noisy latents) --------------------------------------------

def _noised(sched, z0: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.randint(0, sched.config.num_train_timesteps, (len(z0),), generator=g)
    abar = sched.alphas_cumprod.float()[t].view(-1, 1, 1, 1)
    return abar.sqrt() * z0 + (1 - abar).sqrt() * torch.randn(z0.shape, generator=g), t


@torch.no_grad()
def noisy_accuracy(net, sched, z0: torch.Tensor, labels: np.ndarray, timesteps=(0, 250, 500, 750, 999),
                   seed: int = 0) -> dict:
    """Per-head accuracy of the noisy classifier on test latents noised to each of ``timesteps``."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for t in timesteps:
        abar = sched.alphas_cumprod.float()[t]
        zt = abar.sqrt() * z0 + (1 - abar).sqrt() * torch.randn(z0.shape, generator=g)
        logits = net.logits(zt, torch.full((len(z0),), t))
        for k, v in logits.items():
            out[f"{k}_acc_t{t}"] = round(float((v.argmax(1).numpy() == labels[:, shapes.LABEL_COLUMNS.index(k)]
                                                ).mean()), 4)
    return out


def train_noisy_classifier(steps: int = 2000, batch: int = 128, n_train: int = 60_000, seed: int = 0, out=None,
                           run_dir=None) -> dict:
    from .nets import HEADS, NoisyLatentEncoder

    torch.manual_seed(seed)
    folder = _out(PIPE, None)
    vae = load_part("vae", folder)
    lat = train_latents(vae, folder, n_train)
    y = torch.from_numpy(shapes_arrays("train", n_train)["labels"][:, :4].astype(np.int64))
    sched = tiny_sd.default_scheduler()
    net = NoisyLatentEncoder(heads=HEADS)

    def loss_fn(m, b, step):
        z0, yy = b
        zt, t = _noised(sched, z0, torch.Generator().manual_seed(seed * 7919 + step))
        logits = m.logits(zt, t)
        losses = {k: F.cross_entropy(v, yy[:, shapes.LABEL_COLUMNS.index(k)]) for k, v in logits.items()}
        loss = sum(losses.values())
        return loss, {k: v.detach() for k, v in losses.items()}

    cfg = TrainConfig(steps=steps, lr=2e-3, weight_decay=0.01, warmup=100, seed=seed, ema=0.999)
    res = train(net, loss_fn, infinite_batches((lat, y), batch, seed), cfg, run_dir or RUNS / "noisy-classifier",
                desc="noisy-classifier")
    net.load_state_dict(res["state_dict"])
    net.eval()
    dest = _out("sd-noisy-classifier", out)
    tiny_sd.save_fp16(net, dest)
    test = shapes_arrays("test", shapes.TEST_SPLIT_SIZE)
    acc = noisy_accuracy(net, sched, encode_latents(vae, to_tensor(test["images"])), test["labels"])
    metrics = {"steps": steps, "wall_min": round(res["wall_s"] / 60, 1),
               "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3), **acc}
    _card(dest, "sd-noisy-classifier: p(shape, colour, fill, background | z_t, t) on the tiny SD's latents",
          "Trained by `python -m genmodels train noisy-classifier` (ADM-style classifier guidance, Dhariwal & Nichol "
          f"2021) on VAE latents of {n_train:,} train items noised at t ~ U[0, 1000) with the pipeline's schedule; "
          "accuracy on the 2,000-item test split at fixed t.", metrics)
    return metrics


def train_noisy_clip(steps: int = 2000, batch: int = 256, n_train: int = 60_000, seed: int = 0, out=None,
                     run_dir=None) -> dict:
    from .nets import NoisyLatentEncoder

    torch.manual_seed(seed)
    folder = _out(PIPE, None)
    vae, text_encoder, tokenizer = load_part("vae", folder), load_part("text_encoder", folder), \
        load_part("tokenizer", folder)
    lat = train_latents(vae, folder, n_train)
    uniq, cap_ids, _ = caption_table(n_train)
    with torch.no_grad():
        pooled = text_encoder(input_ids=tokenize(tokenizer, uniq)).pooler_output
    sched = tiny_sd.default_scheduler()
    net = NoisyLatentEncoder(proj_dim=tiny_sd.TEXT_DIM, text_dim=tiny_sd.TEXT_DIM)

    def loss_fn(m, b, step):
        z0, cid = b
        zt, t = _noised(sched, z0, torch.Generator().manual_seed(seed * 7919 + step))
        loss = _soft_clip_loss(m.embed_image(zt, t), m.embed_text(pooled[cid]), m.logit_scale.exp(), cid)
        return loss, {"loss": loss.detach()}

    cfg = TrainConfig(steps=steps, lr=2e-3, weight_decay=0.01, warmup=100, seed=seed, ema=0.999)
    res = train(net, loss_fn, infinite_batches((lat, cap_ids), batch, seed), cfg, run_dir or RUNS / "noisy-clip",
                desc="noisy-clip")
    net.load_state_dict(res["state_dict"])
    net.eval()
    dest = _out("sd-noisy-clip", out)
    tiny_sd.save_fp16(net, dest)
    test = shapes_arrays("test", 1000)
    tcaps = sorted({caption_of(r) for r in test["labels"]})
    truth = torch.tensor([tcaps.index(caption_of(r)) for r in test["labels"]])
    z0 = encode_latents(vae, to_tensor(test["images"]))
    with torch.no_grad():
        txt = net.embed_text(text_encoder(input_ids=tokenize(tokenizer, tcaps)).pooler_output)
        top1 = {f"retrieval_top1_t{t}": round(float(((net.embed_image(
            sched.alphas_cumprod[t].sqrt() * z0 + (1 - sched.alphas_cumprod[t]).sqrt() * torch.randn(
                z0.shape, generator=torch.Generator().manual_seed(t)), torch.full((len(z0),), t)) @ txt.T
        ).argmax(1) == truth).float().mean()), 4) for t in (0, 250, 500, 750)}
    metrics = {"steps": steps, "wall_min": round(res["wall_s"] / 60, 1),
               "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3), **top1}
    _card(dest, "sd-noisy-clip: a noise-aware CLIP image tower on the tiny SD's latents",
          "Trained by `python -m genmodels train noisy-clip` (GLIDE-style noised CLIP, Nichol et al. 2021) against "
          "the pipeline's frozen text encoder (pooled output + a linear projection trained here), latents noised at "
          f"t ~ U[0, 1000); {n_train:,} train items. Caption retrieval top-1 among the test split's distinct "
          "captions at fixed t. Not the scoring module's CLIP.", metrics)
    return metrics


# ---- controlnet -------------------------------------------------------------------------------------------------

def control_image(edges: np.ndarray) -> torch.Tensor:
    """Edge maps (N, H, W) bool -> ControlNet conditioning (N, 3, H, W) in [0, 1], as SD ControlNets take it."""
    e = torch.from_numpy(np.asarray(edges, dtype=np.float32))
    return e[:, None].expand(-1, 3, -1, -1).contiguous()


def build_controlnet(unet, small: bool = False):
    from diffusers import ControlNetModel

    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16) if small else (16, 32))


def train_controlnet(steps: int = 2000, batch: int = 64, n_train: int = 60_000, seed: int = 0, out=None,
                     run_dir=None, pipe=None, lr: float = 1e-3) -> dict:
    """ControlNet (Zhang et al. 2023) on exact edge maps, the UNet frozen; 10 % empty captions so it also works
    without a prompt; zero-initialised output convs (``from_unet``) so training starts from the plain UNet.
    ``pipe``: the pipeline folder whose UNet it controls (default: the embedded one)."""
    torch.manual_seed(seed)
    folder = Path(pipe) if pipe else _out(PIPE, None)
    vae, text_encoder, tokenizer, unet = (load_part(p, folder) for p in ("vae", "text_encoder", "tokenizer", "unet"))
    unet.requires_grad_(False)
    uniq, cap_ids, _ = caption_table(n_train)
    lat = train_latents(vae, folder, n_train)
    edges = control_image(shapes_arrays("train", n_train, full=True)["edges"])
    hid = text_hidden(text_encoder, tokenizer, uniq + [""])
    empty = len(uniq)
    sched = tiny_sd.default_scheduler()
    abar_all = sched.alphas_cumprod.float()
    net = build_controlnet(unet)

    def loss_fn(m, b, step):
        z0, cid, ctrl = b
        dev = z0.device
        unet.to(dev)
        g = torch.Generator().manual_seed(seed * 7919 + step)
        drop = (torch.rand(len(cid), generator=g) < 0.1).to(dev)
        cid = torch.where(drop, torch.full_like(cid, empty), cid)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(z0),), generator=g).to(dev)
        noise = torch.randn(z0.shape, generator=g).to(dev)
        abar = abar_all.to(dev)[t].view(-1, 1, 1, 1)
        zt = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
        v = abar.sqrt() * noise - (1 - abar).sqrt() * z0
        states = hid.to(dev)[cid]
        down, mid = m(zt, t, encoder_hidden_states=states, controlnet_cond=ctrl, return_dict=False)
        pred = unet(zt, t, encoder_hidden_states=states, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid).sample
        loss = (min_snr_weight(abar.flatten()) * (pred - v).pow(2).mean((1, 2, 3))).mean()
        return loss, {"loss": loss.detach()}

    cfg = TrainConfig(steps=steps, lr=lr, weight_decay=0.01, warmup=100, ckpt_every=100, seed=seed, ema=0.999)
    res = train(net, loss_fn, infinite_batches((lat, cap_ids, edges), batch, seed), cfg,
                run_dir or RUNS / "controlnet", desc="controlnet")
    net.load_state_dict(res["state_dict"])
    dest = _out("tiny-sd-controlnet-edges", out)
    tiny_sd.save_fp16(net, dest)
    metrics = {"steps": res["steps"], "wall_min": round(res["wall_s"] / 60, 1), "batch": batch, "lr": lr,
               "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3),
               "device": str(accelerator().device)}
    (dest / "train.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
