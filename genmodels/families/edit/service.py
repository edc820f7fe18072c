"""The Edit family's actions — no Gradio here. Each takes what a UI or API client sends, checks it (sentences a person
can act on: ``genmodels.validate``), runs the method under the family's lock on its own UNet copy, and returns the
images with their readouts (``readouts.py``). Papers: inversion.py, blended.py, p2p.py, drag.py.

Every sampler takes a seed (image i from ``torch.Generator().manual_seed(seed + i)``); the same seed and inputs give
the same bytes. DDIM inversion itself draws nothing: its seed draws the fresh-noise sample shown beside the
reconstruction; DragDiffusion's seed draws the image to drag when it starts from a seed.
"""
from __future__ import annotations

import json
import time

import numpy as np

from ...pointdrag import MAX_POINT_PAIRS, format_points, parse_points  # noqa: F401 (the tab's names)
from ...validate import InputError, image_32, open_image, parse_number, parse_seed, parse_whole
from . import blended as B
from . import drag as D
from . import p2p as P
from . import readouts as R
from .common import (CFG_RANGE, LOCK, OUT, STEPS_RANGE, Item, check_mask, check_prompt, dilate, edit_pipeline,
                     encode_text, initial_noise, test_item)
from .inversion import denoise, invert, noise_picture, reconstruct

SOURCES = ("test item", "upload")
STARTS = ("test item", "upload", "seed")
MASK_FROM = ("drawn", "the item's shape")
P2P_MODES = ("word swap", "re-weight")
FRACTION_RANGE = (0.0, 1.0)
SIZE = 32


def pipeline():
    return edit_pipeline()


def check_steps(value, what: str = "Steps") -> int:
    return parse_whole(value, *STEPS_RANGE, what)


def check_cfg(value) -> float:
    return parse_number(value, *CFG_RANGE, "CFG scale")


def _choice(value, options, what: str) -> str:
    if value not in options:
        raise InputError(f"{what} must be one of {', '.join(repr(o) for o in options)}, got {str(value)[:40]!r}.")
    return value


def source_item(source, index, upload, caption: str = "") -> tuple[Item, str]:
    """The image to edit: a test item (its caption, mask and labels) or an upload (centre-cropped to 32×32)."""
    _choice(source, SOURCES + ("seed",), "Source")
    if source == "test item":
        return test_item(index), ""
    if upload is None:
        raise InputError("Upload an image first (or pick 'test item').")
    image, note = image_32(upload, 0, "uploaded image")
    return Item(image, caption, None, None, "upload"), note


# ---- DDIM inversion ---------------------------------------------------------------------------------------------

def invert_image(source="test item", index=0, upload=None, caption="", steps=20, cfg=1.0, seed=0) -> dict:
    """Invert, regenerate, and read out how close the regeneration is (and the VAE's own round trip)."""
    pipe = pipeline()
    steps, cfg, seed = check_steps(steps), check_cfg(cfg), parse_seed(seed)
    item, note = source_item(source, index, upload)
    caption = check_prompt(pipe, caption, "caption", allow_empty=True) or item.caption
    with LOCK:
        res = reconstruct(pipe, item.image, caption, steps, cfg, seed)
    sec = res["seconds"]
    cols = {"inversion → regeneration": R.kept(item.image, res["reconstruction"], None, "") +
            [R.seconds(sec["invert"], "time to invert (s)"), R.seconds(sec["regenerate"], "time to regenerate (s)")],
            "VAE round trip (the ceiling)": R.kept(item.image, res["vae"], None, "")}
    lines = [f"{item.name}, caption '{caption or '(empty)'}': DDIM {steps} steps each way, regenerated at CFG "
             f"{cfg:g}; the inverted latent's std is {res['noise_std']:.2f} (white noise: 1), its distance to the "
             f"image's latent after regeneration {res['latent_rmse']:.3f} (RMS)."]
    if cfg != 1.0:
        lines.append("At CFG > 1 the regeneration leaves the inverted path (Mokady et al. 2023); CFG 1 reconstructs "
                     "best.")
    lines += [note] if note else []
    return {"original": item.image, "noise": noise_picture(res["inverted"]), "reconstruction": res["reconstruction"],
            "vae": res["vae"], "sample": res["sample"], "columns": cols, "note": "\n\n".join(lines),
            "caption": caption}


# ---- Blended latent diffusion -----------------------------------------------------------------------------------

def _square(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[:2]
    s = min(h, w)
    return a[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def _rgba(x) -> np.ndarray | None:
    """An editor layer / background (array, file path from a library caller, or FileData dict) as RGBA uint8; files
    are checked from their header first (``open_image``), then read again with their alpha."""
    if x is None:
        return None
    if isinstance(x, dict) and "path" in x:
        x = x["path"]
    if isinstance(x, str):
        img, _ = open_image(x, "mask layer")
        from PIL import Image

        with Image.open(x) as im:
            if im.mode in ("RGBA", "LA", "PA", "P"):
                return np.asarray(im.convert("RGBA"))
        return np.concatenate([np.asarray(img), np.full((*np.asarray(img).shape[:2], 1), 255, np.uint8)], -1)
    a = np.asarray(x)
    if a.ndim == 2:
        a = np.stack([a] * 3, -1)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputError(f"A mask layer must be an RGB or RGBA image, got an array of shape {a.shape}.")
    return a if a.shape[2] == 4 else np.concatenate([a, np.full((*a.shape[:2], 1), 255, a.dtype)], -1)


def mask_from_editor(value, size: int = SIZE) -> np.ndarray:
    """A gr.ImageEditor value -> bool (size, size) mask: pixels painted on any layer (alpha > 0), centre-cropped and
    resized like the image; a pixel is in the mask when at least a quarter of it is painted. Without layers, what
    differs between the composite and the background counts as painted."""
    from PIL import Image

    if not isinstance(value, dict):
        raise InputError("Draw the mask on the image (the mask editor sent nothing).")
    layers = [a for a in (_rgba(x) for x in (value.get("layers") or [])) if a is not None]
    if layers:
        shape = layers[0].shape[:2]
        painted = np.zeros(shape, bool)
        for a in layers:
            if a.shape[:2] != shape:
                raise InputError("The mask layers differ in size from each other.")
            painted |= a[..., 3] > 0
    else:
        bg, comp = _rgba(value.get("background")), _rgba(value.get("composite"))
        if bg is None or comp is None or bg.shape != comp.shape:
            return np.zeros((size, size), bool)
        painted = np.abs(bg[..., :3].astype(int) - comp[..., :3].astype(int)).max(-1) > 8
    cover = Image.fromarray((_square(painted) * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX)
    return np.asarray(cover) >= 64


def editor_background(value) -> np.ndarray | None:
    """The image under the mask editor's drawing (an upload placed in it), or None."""
    if not isinstance(value, dict) or value.get("background") is None:
        return None
    a = _rgba(value["background"])
    return a[..., :3] if a is not None else None


def blended_edit(source="test item", index=0, editor=None, mask_from="the item's shape", prompt="", steps=20,
                 cfg=3.0, seed=0, strength=1.0) -> dict:
    """Regenerate the masked region of the image from ``prompt``; outside it the noised original latent is kept at
    every step and the original pixels are put back at the end."""
    pipe = pipeline()
    _choice(source, SOURCES, "Source")
    _choice(mask_from, MASK_FROM, "Mask from")
    steps, cfg, seed = check_steps(steps), check_cfg(cfg), parse_seed(seed)
    strength = parse_number(strength, 0.1, 1.0, "Strength")
    prompt = check_prompt(pipe, prompt)
    note = ""
    if source == "test item":
        item = test_item(index)
    else:
        bg = editor_background(editor)
        if bg is None:
            raise InputError("Upload an image into the mask editor first (or pick 'test item').")
        image, note = image_32(bg, 0, "uploaded image")
        item = Item(image, "", None, None, "upload")
    if mask_from == "the item's shape":
        if item.mask is None:
            raise InputError("An upload has no shape mask: pick 'drawn' and paint the region to change.")
        mask = dilate(item.mask, 1)
        what = "shape mask (dilated 1 px)"
    else:
        mask = mask_from_editor(editor)
        what = "drawn mask"
    side = int(pipe.unet.config.sample_size)
    latent_m = check_mask(mask, side, what if mask_from == "drawn" else "shape mask")
    with LOCK:
        res = B.blended(pipe, item.image, mask, latent_m, prompt, steps, cfg, seed, strength)
    keep = ~mask
    where = "outside the mask"
    cols = {"blended (pixels put back)": R.kept(item.image, res["result"], keep, where) +
            R.changed(res["result"], prompt, item.caption or None, item.image, item.labels) +
            [R.seconds(res["seconds"])],
            "latent blend only (before the pixel blend)": R.kept(item.image, res["latent_only"], keep, where) +
            R.changed(res["latent_only"], prompt, item.caption or None, item.image, item.labels)}
    cells = int(latent_m.sum())
    lines = [f"{item.name}: {what}, {int(mask.sum())} of {mask.size} pixels, {cells} of {side * side} latent cells "
             f"regenerated from '{prompt}' (DDIM {steps} steps, CFG {cfg:g}, seed {seed}, strength {strength:g})."]
    lines += [note] if note else []
    return {"original": item.image, "mask": mask, "result": res["result"], "latent_only": res["latent_only"],
            "columns": cols, "note": "\n\n".join(lines)}


# ---- Prompt-to-Prompt -------------------------------------------------------------------------------------------

def p2p_edit(start="test item", index=0, upload=None, seed=0, source_prompt="", target_prompt="",
             mode="word swap", word="", weight=2.0, local_blend=True, blend_words="", steps=20, cfg=3.0,
             cross_frac=0.8, self_frac=0.4, strength=0.5, baseline=True) -> dict:
    """Word swap or attention re-weighting of a real image (DDIM-inverted under its caption; the last ``strength``
    of the steps re-run) or of a seed's sample (all steps), with each token's cross-attention map, and
    (``baseline``) the target prompt from the same start without attention control beside it."""
    pipe = pipeline()
    _choice(start, STARTS, "Start from")
    _choice(mode, P2P_MODES, "Edit")
    steps, cfg, seed = check_steps(steps), check_cfg(cfg), parse_seed(seed)
    cross_frac = parse_number(cross_frac, *FRACTION_RANGE, "Cross-attention replacement (fraction of steps)")
    self_frac = parse_number(self_frac, *FRACTION_RANGE, "Self-attention replacement (fraction of steps)")
    strength = parse_number(strength, *P.STRENGTH_RANGE, "Edit strength")
    item, note = (None, "") if start == "seed" else source_item(start, index, upload)
    if item is not None and item.caption and not str(source_prompt or "").strip():
        source_prompt = item.caption
    source = check_prompt(pipe, source_prompt, "source prompt")
    tok = pipe.tokenizer
    notes = [note] if note else []
    if mode == "word swap":
        target = check_prompt(pipe, target_prompt, "target prompt")
        align = P.check_swap(tok, source, target)
        reweight, changed = None, (align.source_changed, align.target_changed)
        what = ", ".join(f"'{align.source_tokens[j - 1].replace('</w>', '')}' → "
                         f"'{align.target_tokens[j - 1].replace('</w>', '')}'" for j in align.source_changed)
    else:
        weight = parse_number(weight, *P.WEIGHT_RANGE, "Attention weight")
        positions = P.word_tokens(tok, source, word)
        if str(target_prompt or "").strip() and " ".join(str(target_prompt).split()) != source:
            notes.append("Re-weighting edits the source prompt's own attention: the target prompt box is not used.")
        target = source
        reweight = P.equalizer(int(tok.model_max_length), positions, weight)
        changed = (positions, positions)
        what = f"attention of '{' '.join(str(word).split())}' × {weight:g}"
    blend = P.blend_tokens(tok, source, target, blend_words, changed) if local_blend else None
    with LOCK:
        t0 = time.perf_counter()
        if item is not None:
            cond = encode_text(pipe, [source])
            from .common import encode_image

            traj = invert(pipe, encode_image(pipe, item.image), cond, steps)
            first = steps - max(1, int(round(strength * steps)))
            z_start, inverted = traj[steps - first], traj
        else:
            z_start, inverted, first = initial_noise(pipe, seed), None, 0
        t_inv = time.perf_counter() - t0
        res = P.p2p(pipe, source, target, z_start, steps, cfg, inverted=inverted, cross_frac=cross_frac,
                    self_frac=self_frac, reweight=reweight, blend=blend, first=first)
        plain = None
        if baseline:
            t1 = time.perf_counter()
            uncond = encode_text(pipe, [""]) if cfg != 1.0 else None
            from .common import decode

            plain = decode(pipe, denoise(pipe, z_start, encode_text(pipe, [target]), uncond, steps, cfg,
                                         start=first))[0]
            t_plain = time.perf_counter() - t1
    original = item.image if item is not None else res["source"]
    labels = item.labels if item is not None else None
    src_mask = item.mask if item is not None and item.mask is not None else R.object_mask(original)
    keep = ~dilate(src_mask, 1) if src_mask.any() else None
    where = "outside the object" if keep is not None else ""

    def column(img, secs):
        rows = R.kept(original, img, keep, where) + R.changed(img, target, source, original, labels)
        if src_mask.any():
            rows.append(R.iou_readout(original, img))
        return rows + [R.seconds(secs)]

    cols = {"Prompt-to-Prompt": column(res["target"], res["seconds"] + t_inv)}
    if plain is not None:
        cols["same start, no attention control"] = column(plain, t_plain + t_inv)
    start_what = (f"{item.name}, DDIM-inverted under '{source}' and the last {steps - first} of {steps} steps re-run "
                  f"(edit strength {strength:g}), direct-inversion correction" if item is not None else
                  f"seed {seed}, all {steps} steps")
    lines = [f"{mode}: {what}; start: {start_what}; CFG {cfg:g}; cross-attention replaced for the first "
             f"{cross_frac:.0%} of the steps run, self-attention for {self_frac:.0%}"
             + (f"; local blend on {_token_names(tok, source, blend[0]) or _token_names(tok, target, blend[1])}"
                + (f" ({int(res['blend_mask'].sum())} of {res['blend_mask'].size} latent cells "
                                    "editable)" if res["blend_mask"] is not None else "") if blend else "")
             + "."] + notes
    return {"source_image": original, "source_branch": res["source"], "target": res["target"], "plain": plain,
            "source_maps": P.token_maps(tok, source, res["maps"][0], res["source"]),
            "target_maps": P.token_maps(tok, target, res["maps"][1], res["target"]),
            "blend_mask": res["blend_mask"], "columns": cols, "note": "\n\n".join(lines), "source_prompt": source,
            "target_prompt": target}


def _token_names(tok, prompt: str, positions: list[int]) -> str:
    from .common import tokens

    toks = tokens(tok, prompt)
    return ", ".join(f"'{toks[j - 1].replace('</w>', '')}'" for j in positions if 0 < j <= len(toks))


# ---- DragDiffusion ----------------------------------------------------------------------------------------------

def drag_source(start="test item", index=0, upload=None, seed=0, prompt="", steps=20, cfg=3.0) -> tuple[Item, str]:
    """The image to drag and its caption: a test item, an upload, or the prompt's sample from ``seed``."""
    pipe = pipeline()
    _choice(start, STARTS, "Start from")
    if start != "seed":
        item, note = source_item(start, index, upload)
        caption = check_prompt(pipe, prompt, "prompt", allow_empty=True) or item.caption
        return Item(item.image, caption, item.mask, item.labels, item.name), note
    prompt = check_prompt(pipe, prompt, "prompt")
    from .common import decode

    with LOCK:
        z = denoise(pipe, initial_noise(pipe, parse_seed(seed)), encode_text(pipe, [prompt]), encode_text(pipe, [""]),
                    check_steps(steps), float(cfg))
        image = decode(pipe, z)[0]
    return Item(image, prompt, None, None, f"the sample of seed {seed}"), ""


def drag_edit(start="test item", index=0, upload=None, seed=0, points="", prompt="", steps=20, inversion=0.8,
              iterations=60, keep_background=True) -> dict:
    """Drag handle points to targets: invert to an intermediate step, optimise the latent (motion supervision +
    point tracking), denoise with reference-latent control, decode."""
    steps, seed = check_steps(steps), parse_seed(seed)
    inversion = parse_number(inversion, *D.INVERSION_RANGE, "Inversion strength")
    iterations = parse_whole(iterations, 1, D.MAX_ITERATIONS, "Iterations")
    handles, targets = parse_points(points)
    item, note = drag_source(start, index, upload, seed, prompt, steps)
    pipe = pipeline()
    src_mask = item.mask if item.mask is not None else R.object_mask(item.image)
    region = None
    if keep_background:  # editable: the object, where it is dragged to, and discs around the points
        region = D.drag_region(src_mask, handles, targets)
    with LOCK:
        res = D.drag(pipe, item.image, item.caption, handles, targets, steps, inversion, iterations, region,
                     object_mask=src_mask)
    before = float(np.linalg.norm(targets - handles, axis=1).mean())
    after = float(np.linalg.norm(targets - res["handles"], axis=1).mean())
    rows = []
    if keep_background and region is not None:
        rows += R.kept(item.image, res["edited"], ~region, "outside the editable region")
    from ...scoring.readout import per_pair_readout

    rows.append(per_pair_readout("tracked handle → target distance (px)", np.array([after]), "DragDiffusion's point "
                                 f"tracking (before: {before:.1f} px)", False))
    moved = _centroid_shift(src_mask, res["edited"])
    if moved is not None:
        drag_vec = (targets - handles).mean(0)
        along = float(moved @ drag_vec / max(np.linalg.norm(drag_vec) ** 2, 1e-6))
        rows.append(per_pair_readout("object centroid moved / asked", np.array([along]), "outline reader's "
                                     "segmentation (no CNN)", True))
    if item.caption:
        rows += R.changed(res["edited"], item.caption, item.caption, item.image, item.labels, each=True,
                          clip_metric="CLIP score to the caption")
    rows.append(R.seconds(res["seconds"]["total"]))
    cols = {"DragDiffusion": rows,
            "reconstruction (no drag, same path)": R.kept(item.image, res["reconstruction"], None, "")}
    k = res["inversion_steps"]
    lines = [f"{item.name}: inverted {k} of {steps} DDIM steps under '{item.caption or '(empty)'}', "
             f"{res['iterations']} of {iterations} iterations of motion supervision + point tracking "
             f"({res['seconds']['optimise']:.1f} s), denoised with reference-latent control; "
             + ("the background outside the object and its target region held by the λ term" if region is not None
                else "no mask term")
             + ("; every handle moves by one vector, so the object follows as one piece (FreeDrag's feature template)."
                if res.get("template") else ".")]
    lines += [note] if note else []
    return {"original": item.image, "edited": res["edited"], "reconstruction": res["reconstruction"],
            "handles": handles, "targets": targets, "tracked": res["handles"], "columns": cols,
            "note": "\n\n".join(lines)}


def _centroid_shift(mask: np.ndarray, edited: np.ndarray) -> np.ndarray | None:
    """(dx, dy) from the source object's centroid to the edited image's object centroid (None without objects)."""
    after = R.object_mask(edited)
    if not mask.any() or not after.any():
        return None
    c = lambda m: np.array([np.nonzero(m)[1].mean(), np.nonzero(m)[0].mean()])  # noqa: E731
    return c(after) - c(mask)


# ---- Diffusion Autoencoders -------------------------------------------------------------------------------------

DIFFAE_ATTRIBUTES = ("colour", "fill", "shape", "size", "background")
DIFFAE_STRENGTH = (0.25, 3.0)


def diffae_targets(attribute) -> list[str]:
    """The classes an attribute can be moved to (the tab's target choices)."""
    _choice(attribute, DIFFAE_ATTRIBUTES, "Attribute")
    return list(R.NAMES[attribute])


# share of the DDIM steps inverted and re-run by default (chosen on test items 0-199, checked on 200-399)
DIFFAE_DEPTH = 0.75


def diffae_edit(source="test item", index=0, upload=None, attribute="colour", target="red", strength=1.0,
                depth=DIFFAE_DEPTH, steps=20) -> dict:
    """Encode the image into (z_sem, x_T), move z_sem along the linear classifier's direction from the attribute's
    current class to ``target`` (``diffae.move``), decode both codes with the same x_T; readouts of the edit against
    the reconstruction's own starting point."""
    from . import diffae
    from .common import decode

    pipe = pipeline()
    _choice(attribute, DIFFAE_ATTRIBUTES, "Attribute")
    names = R.NAMES[attribute]
    if target not in names:
        raise InputError(f"'{target}' is not a {attribute} of this domain; choose one of {', '.join(names)}.")
    goal = names.index(target)
    strength = parse_number(strength, *DIFFAE_STRENGTH, "Edit strength")
    depth = parse_number(depth, *FRACTION_RANGE, "Depth (share of the steps re-run)")
    if depth <= 0:
        raise InputError("Depth must be > 0: it is the share of the DDIM steps inverted and re-run (1: x_T).")
    steps = check_steps(steps)
    item, note = source_item(source, index, upload)
    try:
        enc, dirs = diffae.load_embedded()
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    import torch

    with LOCK:
        t0 = time.perf_counter()
        code = diffae.encode(pipe, enc, item.image[None], steps, depth)
        reading = {a: int(diffae.classify(dirs, code["z_sem"], a).argmax(1)[0]) for a in R.ATTRIBUTES}
        if reading[attribute] == goal:
            raise InputError(f"The semantic code already reads {attribute} '{target}' for this image: pick another "
                             f"{attribute} to move it to.")
        z_new = diffae.move(dirs, code["z_sem"], attribute, goal, strength)
        t_enc = time.perf_counter() - t0
        t1 = time.perf_counter()
        rec, edited = decode(pipe, torch.cat([diffae.decode(pipe, enc, code["z_sem"], code["x_T"], steps, depth),
                                              diffae.decode(pipe, enc, z_new, code["x_T"], steps, depth)]))
        t_dec = time.perf_counter() - t1
    after = {a: int(diffae.classify(dirs, z_new, a).argmax(1)[0]) for a in R.ATTRIBUTES}
    labels = item.labels
    src_caption = item.caption or _caption(reading)
    tgt_caption = _caption({**(R.reference_labels(item.image, labels) if labels is not None else reading),
                            attribute: goal})
    src_mask = item.mask if item.mask is not None else R.object_mask(item.image)
    keep = ~dilate(src_mask, 1) if src_mask.any() else None
    where = "outside the object" if keep is not None else ""
    cols = {"edited (z_sem moved, same x_T)": R.kept(item.image, edited, keep, where)
            + R.changed(edited, tgt_caption, src_caption, item.image, labels, clip_metric="CLIP score to the target "
                        "caption") + ([R.iou_readout(item.image, edited)] if src_mask.any() else [])
            + [R.seconds(t_enc, "time to encode (s)"), R.seconds(t_dec, "time to decode both (s)")],
            "reconstruction (z_sem, x_T)": R.kept(item.image, rec, None, "")}
    read = ", ".join(f"{a} {R.NAMES[a][reading[a]]}" for a in R.ATTRIBUTES)
    was = R.NAMES[attribute][reading[attribute]]
    lines = [f"{item.name}: the semantic code reads {read}; moved {attribute} '{was}'"
             f" → '{target}' (strength {strength:g}: the target's logit margin ends at {strength:g}× the source's), "
             f"z_sem moved by {float((z_new - code['z_sem']).norm()):.2f} (its norm {float(code['z_sem'].norm()):.2f})"
             f"; after the move the classifiers read {attribute} '{R.NAMES[attribute][after[attribute]]}'. Stochastic "
             f"code: DDIM inversion under the image's own semantic states, {code['k']} of {steps} steps "
             f"(depth {depth:g}{'; x_T' if code['k'] == steps else ''})."] + ([note] if note else [])
    return {"original": item.image, "reconstruction": rec, "edited": edited, "columns": cols,
            "note": "\n\n".join(lines), "target_caption": tgt_caption}


def _caption(attrs: dict[str, int]) -> str:
    """The domain's caption of an attribute reading (``diffusion.common.caption_of`` of its label row)."""
    from ...data import shapes
    from ..diffusion.common import caption_of

    return caption_of([attrs[k] for k in shapes.LABEL_COLUMNS])


# ---- stored evaluation -----------------------------------------------------------------------------------------

def stored_metrics() -> dict:
    """``metrics.json`` of ``python -m genmodels.families.edit.evaluate``, or {} before it ran."""
    path = OUT / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}
