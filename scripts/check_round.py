"""Quick held-out check of models brought back from a GPU round: python scripts/check_round.py DIR N_SD N_GAN JOB,JOB...

GAN jobs: requested shape / colour (conditional) or confident-shape rate (DCGAN) of N_GAN samples, scoring classifier;
SD jobs: text -> image attributes, FID and ControlNet edge F1 on N_SD test captions / edge maps (evaluate.py protocol).
"""
import json, sys, time, torch
torch.set_num_threads(2)
from genmodels.families.diffusion import service, evaluate as de
from genmodels.families.gan import service as gs, evaluate as ge
from genmodels.families.gan.train import standing_stats
from genmodels.scoring.backbones import get_backbone
import numpy as np
R = sys.argv[1]; n_sd = int(sys.argv[2]); n_gan = int(sys.argv[3]); which = sys.argv[4].split(",")
res = {}
for j in which:
    t = time.time()
    if j.startswith("sd"):
        pipe = service.load_pipeline(f"{R}/{j}/tiny-sd")
        r = de.txt2img_metrics(pipe, n_sd)
        r2 = de.controlnet_metrics(pipe, service.load_controlnet(f"{R}/{j}/controlnet"), n_sd)
        res[j] = {k: v for k, v in {**r, **{"cn " + k: v for k, v in r2.items()}}.items() if "recognised" in k or "F1" in k or k=="FID"}
    else:
        kind = j.split("-")[0]
        G = gs.load_generator(kind, f"{R}/{j}/weights") if j != "shipped-" + kind else gs.load_generator(kind)
        if gs.is_conditional(G):
            labels = ge.balanced_labels(n_gan, 12345)
            imgs = ge.sample(kind, G, n_gan, 12345, labels)
            pred = get_backbone("shapes").attribute_predictions(imgs)
            hit = pred["shape"] == labels[:, 0].numpy()
            res[j] = {"shape": float(hit.mean()), "colour": float((pred["colour"] == labels[:, 1].numpy()).mean()),
                      "per_class": [round(float(hit[labels[:, 0].numpy() == k].mean()), 3) for k in range(6)]}
        else:
            probs = get_backbone("shapes").class_probs(ge.sample(kind, G, n_gan, 12345))
            res[j] = {"confident": float((probs.max(1) >= 0.9).mean()), "hist": np.bincount(probs.argmax(1), minlength=6).tolist()}
    res[j]["eval_s"] = round(time.time() - t)
    print(j, json.dumps(res[j]), flush=True)
