"""Requested-attribute accuracy of the embedded code priors against their classifier-free guidance scale.

    python scripts/guidance_sweep.py vq-prior 1 3 5 7 10 --n 300
    python scripts/guidance_sweep.py vq-dalle 1 3 5 7 --n 300

Prints one JSON line per scale (the scoring classifier reads the samples; seed 12345 as in the cards) and FID_domain
of the same samples, so a higher default scale is chosen on measured accuracy *and* what it costs in FID."""
from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["vq-prior", "vq-dalle"])
    ap.add_argument("scales", nargs="+", type=float)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(2)
    from genmodels.families.vae import evaluate as E
    from genmodels.families.vae.service import load

    model, vq = load(args.model), load("vqvae")
    for s in args.scales:
        t0 = time.perf_counter()
        if args.model == "vq-prior":
            images, y, _ = E.prior_samples(model, vq, args.n, seed=12345, guidance=s)
            rec = {"shape": round(float((E._predict(images)["shape"] == y).mean()), 4)}
        else:
            from genmodels.data.dataset import shapes_arrays
            from genmodels.families.vae.train import labels_tensor

            lab = labels_tensor(shapes_arrays("test", args.n))
            images = E.dalle_samples(model, vq, lab, seed=12345, guidance=s)
            p = E._predict(images)
            hits = {k: p[k] == lab[:, c].numpy() for c, k in enumerate(E.ATTRS)}
            rec = {k: round(float(v.mean()), 4) for k, v in hits.items()}
            rec["shape+colour+fill"] = round(float((hits["shape"] & hits["colour"] & hits["fill"]).mean()), 4)
        rec.update(E._fid_with_floor(images))
        print(json.dumps({"model": args.model, "guidance": s, "n": args.n, **rec,
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
