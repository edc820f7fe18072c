"""Training of the GAN family's embedded models: ``python -m genmodels train dcgan|cgan|stylegan``.

Non-saturating logistic loss (Goodfellow et al. 2014, arXiv:1406.2661) for all three; StyleGAN adds lazy R1
(Mescheder et al. 2018, arXiv:1801.04406) and style-mixing regularisation (Karras et al. 2019, arXiv:1812.04948).
An EMA copy of G (Karras et al. 2018, arXiv:1710.10196) is what gets saved and sampled. Resumable: G, D, G_ema,
both optimisers and the step are checkpointed to ``run_dir/ckpt.pt`` (tensors only; ``weights_only=True``).
``--data PATH`` trains the unconditional models on a user's image folder / zip instead of the shapes domain.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...checkpoints import safe_load
from ...data.dataset import FolderDataset, shapes_arrays, to_tensor
from ...training import ema_update, infinite_batches
from .recipes import (_PLAIN, BIGGAN_CHANNELS, CGAN_CONDITIONAL_BN, DCGAN_WIDTH, N_COLOURS, N_SHAPES, ONE_HUE_LOOKS,
                      RECIPES, STYLEGAN_CHANNELS, VARIANTS, balanced_labels, labels_for)
from .service import is_conditional, z_dim

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def use_bf16(setting: bool | str, device: str = "cpu") -> bool:
    """Resolve GANRecipe.bf16: "auto" is on for CUDA and for CPUs that report native bf16 (avx512_bf16 / amx_bf16)."""
    if setting != "auto":
        return bool(setting)
    if device == "cuda":
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def build(kind: str, conditional: bool | None = None, generator: str = "dcgan"):
    """(G, D) of a kind; ``conditional`` defaults to True for cgan and stylegan (class + colour); ``generator``:
    CGAN's G, "dcgan", "layered" or "layered-albedo" (layered.py; the latter with a grey background and a one-hue
    appearance)."""
    from .dcgan import DCGANDiscriminator, DCGANGenerator

    if kind == "dcgan":
        return DCGANGenerator(width=DCGAN_WIDTH), DCGANDiscriminator()
    if kind == "cgan":
        n = (N_SHAPES, N_COLOURS)
        if generator not in ("dcgan", "layered", "layered-albedo"):
            raise ValueError(f"unknown CGAN generator {generator!r}; choose dcgan, layered or layered-albedo")
        if generator.startswith("layered"):
            from .layered import LayeredGenerator

            looks = ONE_HUE_LOOKS if generator == "layered-albedo" else {}
            G = LayeredGenerator(width=DCGAN_WIDTH, n_classes=n, **looks)
        else:
            G = DCGANGenerator(width=DCGAN_WIDTH, n_classes=n, conditional_bn=CGAN_CONDITIONAL_BN)
        return (G,
                DCGANDiscriminator(n_classes=n, aux_classifier=RECIPES["cgan"].aux_weight > 0))
    if kind == "stylegan":
        from .stylegan import Discriminator, Generator

        k = N_SHAPES * N_COLOURS if conditional in (None, True) else 0
        return (Generator(size=32, style_dim=256, n_mlp=4, channels=STYLEGAN_CHANNELS, n_classes=k),
                Discriminator(size=32, channels=STYLEGAN_CHANNELS, n_classes=k))
    if kind == "biggan":
        from .biggan import BigGANDiscriminator, BigGANGenerator

        n = (N_SHAPES, N_COLOURS)
        return BigGANGenerator(channels=BIGGAN_CHANNELS, n_classes=n), BigGANDiscriminator(n_classes=n)
    raise ValueError(f"unknown GAN kind {kind!r}; choose dcgan, cgan, stylegan or biggan")


def g_forward(kind: str, G, z, c, mix_prob: float = 0.0, gen: torch.Generator | None = None):
    if kind == "stylegan":
        mix_z = mix_layer = None
        if mix_prob and torch.rand((), generator=gen) < mix_prob:
            mix_z = torch.randn(z.shape, generator=gen).to(z.device)
            mix_layer = int(torch.randint(1, G.num_ws, (), generator=gen))
        return G(z, c, noise_mode="random", mix_z=mix_z, mix_layer=mix_layer)
    return G(z, c)


@torch.no_grad()
def recompute_bn(G, forward, n_batches: int) -> None:
    """Reset G's batch-norm running statistics and recompute them as the cumulative average over ``forward(i)`` for
    i < n_batches in train mode; G ends in eval mode."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    G.train()
    for i in range(n_batches):
        forward(i)
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    G.eval()


@torch.no_grad()
def standing_stats(kind: str, G, n_batches: int = 32, batch: int = 64, seed: int = 0) -> None:
    """Recompute G's batch-norm statistics from its own forward passes (BigGAN's "standing statistics", Brock et al.
    2018, arXiv:1809.11096). The EMA generator's averaged weights do not match the running statistics copied from
    the raw G; without this the EMA CGAN drew uniform noise at step 1,000 while the raw G drew coloured shapes."""
    gen = torch.Generator().manual_seed(seed)

    def one(i):
        z = torch.randn(batch, z_dim(G), generator=gen)
        c = labels_for(kind, balanced_labels(batch, seed + i)) if is_conditional(G) else None
        G(z, c)

    recompute_bn(G, one, n_batches)


def mode_seeking_loss(a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor,
                      eps: float = 1e-5) -> torch.Tensor:
    """Mode seeking (Mao, Lee, Tseng, Ma, Yang 2019, "Mode Seeking Generative Adversarial Networks for Diverse Image
    Synthesis", arXiv:1903.05628, eq. 3): G maximises d(G(c, z1), G(c, z2)) / d(z1, z2) (mean absolute differences),
    minimised here as its reciprocal, as in the paper's code."""
    ratio = (a.float() - b.float()).abs().mean() / (za - zb).abs().mean()
    return 1.0 / (ratio + eps)


def mismatched(y: torch.Tensor, gen: torch.Generator | None = None,
               classes: tuple[int, ...] = (N_SHAPES, N_COLOURS)) -> torch.Tensor:
    """(N, >=2) labels where the first ``len(classes)`` columns (shape, colour by default) are each replaced by a
    different value with probability 1/2 (the first when none was drawn), for the matching-aware discriminator."""
    dev, y = y.device, y.cpu().clone()
    n = len(y)
    flip = torch.rand(n, len(classes), generator=gen) < 0.5
    flip[:, 0] |= ~flip.any(1)
    for col, k in enumerate(classes):
        shift = torch.randint(1, k, (n,), generator=gen)
        y[:, col] = torch.where(flip[:, col], (y[:, col] + shift) % k, y[:, col])
    return y.to(dev)


def _monitor(kind: str, G_ema, run: Path, step: int, wall: float, n: int = 300) -> None:
    """Append to run/monitor.jsonl what the scoring classifier (never seen by G or D) makes of n EMA samples: the
    rate of the requested shape / colour (conditional kinds), or of images whose top shape probability is >= 0.9."""
    import numpy as np

    from ...scoring.backbones import get_backbone
    from ...scoring.precision_recall import precision_recall_from_features
    from ...scoring.readout import read_shapes
    from ...scoring.reference import reference_stats
    from .evaluate import sample

    standing_stats(kind, G_ema)
    backbone = get_backbone("shapes")
    rec = {"step": step, "wall_min": round(wall / 60, 2)}
    if getattr(G_ema, "appearance", "rgb") != "rgb":  # read as shipped (layered.py's looks), not the RGB layers
        rec["looks"] = f"{G_ema.background} background, {G_ema.appearance}"
    if is_conditional(G_ema):
        labels = balanced_labels(n, seed=7)
        images = sample(kind, G_ema, n, seed=7, labels=labels)
        pred = backbone.attribute_predictions(images)
        rec["shape"] = float((pred["shape"] == labels[:, 0].numpy()).mean())
        rec["colour"] = float((pred["colour"] == labels[:, 1].numpy()).mean())
        hit = pred["shape"] == labels[:, 0].numpy()  # per requested shape: one failing class hides in the mean
        rec["shape_per_class"] = [round(float(hit[labels[:, 0].numpy() == k].mean()), 3) for k in range(N_SHAPES)]
        # the outline and the spread beside the classifier (what the guide reward can cost; issue: one pose a class)
        reading = read_shapes(images, labels[:, 0]).summary()
        rec["shape_outline"], rec["pieces"] = round(reading["outline"], 4), round(reading["pieces"], 4)
        prec, recall = precision_recall_from_features(reference_stats(backbone)["features"][:n],
                                                      backbone.features(images))
        rec[f"precision_{n}"], rec[f"recall_{n}"] = round(prec, 4), round(recall, 4)
    else:
        probs = backbone.class_probs(sample(kind, G_ema, n, seed=7))
        rec["confident_0.9"] = float((probs.max(1) >= 0.9).mean())
        rec["shape_hist"] = np.bincount(probs.argmax(1), minlength=N_SHAPES).tolist()
    with open(run / "monitor.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")


def _init_from_embedded(kind: str, G, G_ema, run: Path) -> tuple[int, float]:
    """Load the committed generator into G and G_ema; (step, wall seconds) of its last monitor line, whose history
    is copied into the run so the card keeps the whole curve."""
    src = WEIGHTS / kind
    if not (src / "model.safetensors").exists():
        raise FileNotFoundError(f"no embedded {kind} in {src} to start from")
    from ...training import continue_from_card

    shipped = type(G).from_pretrained(src)
    G.load_state_dict(shipped.state_dict())
    G_ema.load_state_dict(shipped.state_dict())
    return continue_from_card(src, run)


def train_gan(kind: str, steps: int = 20_000, n_train: int = 100_000, seed: int = 0, out: str | None = None,
              run_dir: str | None = None, data: str | None = None, eval_n: int = 2000,
              variant: str | None = None, init: str | None = None, d_warmup: int = 0,
              reproduce: str | None = None) -> dict:
    """``variant``: a recipe of ``VARIANTS`` instead of ``RECIPES[kind]`` (experiments). ``init="embedded"`` (or the
    name of another embedded weights folder, e.g. "cgan-onepass") with no checkpoint in ``run_dir``: continue from
    that shipped generator (G and its EMA start from the committed EMA
    weights; step count, wall time and monitor history carry on from its card), with a fresh D trained alone for
    ``d_warmup`` steps against the frozen G first — the way on when a run's checkpoint was lost."""
    from accelerate.utils import set_seed

    from ...training import accelerator, out_of_time

    if data and kind in ("cgan", "biggan"):
        raise ValueError(f"{kind} needs labels; train dcgan or stylegan on an unlabelled folder")
    recipe = VARIANTS[variant] if variant else _PLAIN[kind] if data else RECIPES[kind]
    set_seed(seed)
    acc = accelerator()
    # The guide is a shapes network: on a user's folder (_PLAIN recipe) the pixel-space D runs instead.
    projected, guided = recipe.projected, bool(recipe.guide_weight)
    guide = None
    if projected or guided:  # first: a missing guide is reported before any data is rendered
        from .projected import ProjectedDiscriminator, guide_objective, load_guide

        guide = load_guide().to(acc.device)
    reward = None
    if recipe.reward and recipe.guide_weight:
        reward = load_guide(WEIGHTS / recipe.reward).to(acc.device)
    out = Path(out or WEIGHTS / kind)
    run = Path(run_dir or f"runs/{kind}")
    run.mkdir(parents=True, exist_ok=True)
    if data:
        ds = FolderDataset(data)
        images, labels = ds.images, torch.zeros(len(ds.images), 5, dtype=torch.long)
        G, D = build(kind, conditional=False)
        kind_c = "dcgan" if kind == "dcgan" else "stylegan-uncond"
    else:
        arr = shapes_arrays("train", n_train)
        images, labels = to_tensor(arr["images"]), torch.from_numpy(arr["labels"])
        G, D = build(kind, generator=recipe.generator)
        kind_c = kind
    conditional = kind_c in ("cgan", "stylegan", "biggan")
    cond = (lambda y: labels_for(kind, y)) if conditional else (lambda y: None)
    if projected:  # the guide's features miss texture / background: the kind's pixel D stays beside the heads
        D = torch.nn.ModuleDict({"proj": ProjectedDiscriminator(
            guide.widths, n_classes=(N_SHAPES, N_COLOURS) if conditional else ()), "pix": D})
    masked = bool(recipe.mask_d) and not data and hasattr(G, "pose_params")
    if recipe.mask_d and not masked:
        raise ValueError("mask_d needs a layered generator on the shapes data (its masks are the real ones)")
    if masked:  # layered.MaskDiscriminator: its own D and optimiser, real masks of the same items' labels
        from .layered import MaskDiscriminator, mask_d_loss, mask_g_loss, real_mask_batches

        get_mask = real_mask_batches(n_train, recipe.batch, seed + 1)
        D_mask = MaskDiscriminator(N_SHAPES)
        opt_dm = torch.optim.Adam(D_mask.parameters(), lr=recipe.lr_d or recipe.lr, betas=recipe.betas)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=recipe.lr, betas=recipe.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=recipe.lr_d or recipe.lr, betas=recipe.betas)
    amp = torch.autocast(acc.device.type, dtype=torch.bfloat16, enabled=use_bf16(recipe.bf16, acc.device.type))
    hinge = recipe.loss == "hinge"

    def each(loss):  # a loss over D's output, summed over the discriminators when there are several
        return lambda outs: sum(loss(o.float()) for o in (outs if isinstance(outs, list) else [outs]))

    d_fake_loss = each((lambda o: F.relu(1 + o).mean()) if hinge else (lambda o: F.softplus(o).mean()))
    d_real_loss = each((lambda o: F.relu(1 - o).mean()) if hinge else (lambda o: F.softplus(-o).mean()))
    g_adv_loss = each((lambda o: -o.mean()) if hinge else (lambda o: F.softplus(-o).mean()))

    def view(img):  # a DiffAugmented batch and the frozen guide's maps of it (gradients reach img, not the guide)
        from .projected import diff_augment

        aug = diff_augment(img, gen)
        return aug, guide.features(aug)

    def d_of(img, y, seen=None):  # D's logits; projected: [heads on guide features, pixel D] of one augmented view
        if projected:
            aug, feats = view(img) if seen is None else seen
            return [D["proj"](feats, y[:, :2] if conditional else None), D["pix"](aug, cond(y))]
        return D(img, cond(y))

    step, wall = 0, 0.0
    ckpt = run / "ckpt.pt"
    if ckpt.exists():
        st = safe_load(ckpt)
        for m, k in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            m.load_state_dict(st[k])
        step, wall = int(st["step"]), float(st["wall"])
        if masked and "D_mask" in st:  # a checkpoint of a run without it starts a fresh mask D
            D_mask.load_state_dict(st["D_mask"])
            opt_dm.load_state_dict(st["opt_dm"])
        acc.print(f"resuming {kind} from step {step} ({wall / 60:.1f} min so far)")
    elif init is not None and (init == "embedded" or (WEIGHTS / init / "model.safetensors").exists()):
        src = kind if init == "embedded" else init
        step, wall = _init_from_embedded(src, G, G_ema, run)
        if step >= steps:
            raise ValueError(f"the embedded {src} is already at step {step}; ask for more --steps")
        acc.print(f"continuing the embedded {src} from step {step}")
    elif init is not None:
        raise ValueError(f"init must be 'embedded', an embedded weights folder's name or empty, got {init!r}")
    warm_d = d_warmup if (init is not None and not ckpt.exists()) else 0
    G, D, opt_g, opt_d = acc.prepare(G, D, opt_g, opt_d)
    if masked:
        D_mask, opt_dm = acc.prepare(D_mask, opt_dm)
    G_ema.to(acc.device)
    get = infinite_batches((images, labels), recipe.batch, seed)
    gen = torch.Generator().manual_seed(seed + step)

    def save():
        if not acc.is_main_process:  # several ranks: rank 0 alone writes the (identical) state
            return
        st = {"G": acc.unwrap_model(G).state_dict(), "D": acc.unwrap_model(D).state_dict(),
              "G_ema": G_ema.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
              "step": torch.tensor(step), "wall": torch.tensor(wall)}
        if masked:
            st.update(D_mask=acc.unwrap_model(D_mask).state_dict(), opt_dm=opt_dm.state_dict())
        torch.save(st, run / "ckpt.tmp")
        (run / "ckpt.tmp").replace(ckpt)

    def shipped(g):  # a copy of G_ema as it is saved: trained with RGB layers, drawn with the recipe's looks
        return g.with_looks(**dict(recipe.ship_looks)) if recipe.ship_looks else copy.deepcopy(g)

    bar = tqdm(total=steps, initial=step, desc=kind)
    first = step
    while step < steps and not out_of_time():
        t0 = time.perf_counter()
        warming = step == first and warm_d > 0
        factor = next((f for start, f in reversed(recipe.lr_stages) if step >= start), 1.0)
        for o, base in ((opt_g, recipe.lr), (opt_d, recipe.lr_d or recipe.lr)):
            for group in o.param_groups:
                group["lr"] = base * factor
        x, y = (t.to(acc.device) for t in get(step + (warm_d if warming else 0)))
        c = cond(y)
        z = torch.randn(len(x), z_dim(G_ema), generator=gen).to(acc.device)
        # D step
        aux = recipe.aux_weight and kind == "cgan" and c is not None
        with amp:
            with torch.no_grad():
                if masked:
                    fake, fake_mask = G(z, c, with_mask=True)
                else:
                    fake = g_forward(kind, G, z, c, recipe.mixing, gen)
                real_view = view(x) if projected else None
                fake_view = view(fake) if projected else None
            if aux:  # AC-GAN: D learns to classify real images; G is rewarded when classified as asked
                real_out, real_cls = D(x, c, return_aux=True)
                d_loss = d_fake_loss(D(fake, c)) + d_real_loss(real_out) + recipe.aux_weight * sum(
                    F.cross_entropy(logits.float(), c[:, i]) for i, logits in enumerate(real_cls))
            else:
                d_loss = d_fake_loss(d_of(fake, y, fake_view)) + d_real_loss(d_of(x, y, real_view))
            if recipe.mismatch and conditional:
                d_loss = d_loss + recipe.mismatch * d_fake_loss(d_of(x, mismatched(y, gen), real_view))
        r1 = torch.zeros(())
        if recipe.r1_gamma and not projected and step % recipe.r1_every == 0:  # float32: a double backward
            x_r = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(D(x_r, c).sum(), x_r, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean() * (recipe.r1_gamma / 2) * recipe.r1_every
        opt_d.zero_grad(set_to_none=True)
        acc.backward(d_loss + r1)
        opt_d.step()
        if masked:  # the mask D: real masks of the domain vs G's placed masks, hinge
            m_real, s_real = (t.to(acc.device) for t in get_mask(step + (warm_d if warming else 0)))
            with amp:
                dm_loss = mask_d_loss(D_mask, m_real, s_real, fake_mask, y[:, 0])
            opt_dm.zero_grad(set_to_none=True)
            acc.backward(dm_loss)
            opt_dm.step()
        if warming:  # D-only steps against the frozen G; the step count stays until D has caught up
            warm_d -= 1
            wall += time.perf_counter() - t0
            if warm_d == 0:
                acc.print(f"D warm-up done, D loss {float(d_loss):.3f}")
            continue
        # G step
        z = torch.randn(z.shape, generator=gen).to(acc.device)
        pairs = bool(recipe.mode_seeking) and conditional
        if pairs:  # mode seeking: the two halves of the batch are asked for the same labels with different z
            half = len(y) // 2
            y = torch.cat([y[:half], y[:half]])
            c = cond(y)
        with amp:
            if masked:
                fake, fake_mask = G(z, c, with_mask=True)
            else:
                fake = g_forward(kind, G, z, c, recipe.mixing, gen)
            if aux:
                fake_out, fake_cls = D(fake, c, return_aux=True)
                g_loss = g_adv_loss(fake_out) + recipe.aux_weight * sum(
                    F.cross_entropy(logits.float(), c[:, i]) for i, logits in enumerate(fake_cls))
            else:
                seen = view(fake) if (projected or guided) else None
                g_loss = g_adv_loss(d_of(fake, y, seen))
                if guided:
                    robust = reward is not None and step >= recipe.reward_from
                    logits = reward(seen[0]) if robust else guide.logits(seen[1])
                    weight = next((w for start, w in reversed(recipe.guide_stages) if step >= start),
                                  recipe.guide_weight)
                    g_loss = g_loss + weight * guide_objective(logits, y if conditional else None)
            if masked:
                g_loss = g_loss + recipe.mask_d * mask_g_loss(D_mask, fake_mask, y[:, 0])
            if pairs:
                g_loss = g_loss + recipe.mode_seeking * mode_seeking_loss(fake[:half], fake[half:2 * half],
                                                                          z[:half], z[half:2 * half])
        if recipe.ortho:
            from .biggan import orthogonal_penalty

            g_loss = g_loss + orthogonal_penalty(acc.unwrap_model(G), recipe.ortho)
        opt_g.zero_grad(set_to_none=True)
        acc.backward(g_loss)
        opt_g.step()
        with torch.no_grad():
            g = acc.unwrap_model(G)
            ema_update(G_ema, g, recipe.ema, step)
            if kind == "stylegan":
                g.update_w_avg(g.mapping(z, c))
        step += 1
        wall += time.perf_counter() - t0
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(d=f"{float(d_loss):.3f}", g=f"{float(g_loss):.3f}", r1=f"{float(r1):.3f}",
                            **({"dm": f"{float(dm_loss):.3f}"} if masked else {}))
        if step % 200 == 0 or step == steps:
            save()
        if recipe.monitor_every and step % recipe.monitor_every == 0 and data is None and acc.is_main_process:
            _monitor(kind, shipped(G_ema).cpu(), run, step, wall)
    bar.close()
    save()
    if not acc.is_main_process:  # accelerate launch: rank 0 alone evaluates and writes the weights and card
        return {}
    G_ema = G_ema.cpu()
    G_ema = shipped(G_ema).eval()
    standing_stats(kind, G_ema)
    G_ema.save_pretrained(out)
    if (run / "monitor.jsonl").exists():
        (Path(out) / "monitor.jsonl").write_text((run / "monitor.jsonl").read_text())
    from .evaluate import write_model_card

    return write_model_card(kind, G_ema, out, steps=step, wall_s=wall, n_train=n_train, data=data, n_eval=eval_n,
                            variant=variant, reproduce=reproduce)
