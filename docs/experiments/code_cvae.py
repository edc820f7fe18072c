"""Experiment (2026-12-01, tenth session; docs/experiments/README.md): a CVAE whose observation is the embedded VQ-VAE's
8x8 code map (a categorical per position), its decoder a spatial broadcast decoder over the 8x8 grid, the codes drawn
by argmax and rendered by the frozen VQ-VAE decoder; optional KL weight BETA and a Fader latent critic (weight ADV,
reversed gradient). Prints requested shape / colour of 300 samples read by the scoring classifier every 250 steps.

    python docs/experiments/code_cvae.py STEPS BETA ADV LATENT     # ran: 3000 1 0 16 and 3000 0.05 1 32 (stopped)
"""
import torch, torch.nn as nn, torch.nn.functional as F, numpy as np, time, json, sys, math
torch.set_num_threads(2)
from genmodels.families.vae.train import load_vqvae, encode_codes, levels, labels_tensor, decode_codes, to_float
from genmodels.families.vae.vae import ResBlock, _block
from genmodels.data.dataset import shapes_arrays
from genmodels.scoring.backbones import get_backbone
STEPS, BETA, ADV, LAT = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]); W = 64; K = 256
vq = load_vqvae()
arr = shapes_arrays("train", 60000)
t0 = time.time(); codes = encode_codes(vq, arr["images"]); print("codes", codes.shape, time.time() - t0, flush=True)
lab = labels_tensor(arr)
x_lv = levels(arr["images"])
class CodeCVAE(nn.Module):
    def __init__(s):
        super().__init__()
        s.se, s.ce = nn.Embedding(6, 32), nn.Embedding(6, 32)
        s.enc = nn.Sequential(_block(3 + 32, W), nn.Conv2d(W, W, 4, 2, 1), ResBlock(W), _block(W, 2 * W),
                              nn.Conv2d(2 * W, 2 * W, 4, 2, 1), ResBlock(2 * W), nn.Conv2d(2 * W, 2 * W, 4, 2, 1))
        s.stats = nn.Linear(2 * W * 16, 2 * LAT)
        s.dec = nn.Sequential(nn.Conv2d(LAT + 32 + 2, 2 * W, 3, padding=1), nn.SiLU(), ResBlock(2 * W), ResBlock(2 * W),
                              ResBlock(2 * W), nn.GroupNorm(8, 2 * W), nn.SiLU(), nn.Conv2d(2 * W, K, 1))
        s.critic = nn.Sequential(nn.Linear(LAT, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(), nn.Linear(128, 6))
        lin = torch.linspace(-1, 1, 8)
        s.register_buffer("coords", torch.stack(torch.meshgrid(lin, lin, indexing="ij"))[None])
    def cond(s, sh, co): return s.se(sh) + s.ce(co)
    def encode(s, x, e):
        h = torch.cat([to_float(x), e[:, :, None, None].expand(-1, -1, 32, 32)], 1)
        mu, lv = s.stats(s.enc(h).flatten(1)).chunk(2, 1); return mu, lv.clamp(-12, 8)
    def decode(s, z, e):
        v = torch.cat([z, e], 1)[:, :, None, None].expand(-1, -1, 8, 8)
        return s.dec(torch.cat([v, s.coords.expand(len(z), -1, -1, -1)], 1))
m = CodeCVAE(); opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=0)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=STEPS, pct_start=0.05)
bb = get_backbone("shapes")
g = torch.Generator().manual_seed(0)
t0 = time.time()
for step in range(1, STEPS + 1):
    i = torch.randint(0, len(codes), (64,), generator=g)
    x, c, l = x_lv[i], codes[i], lab[i]
    e = m.cond(l[:, 0], l[:, 1])
    mu, lv = m.encode(x, e)
    z = mu + torch.randn_like(mu) * (0.5 * lv).exp()
    logits = m.decode(z, e)
    nll = F.cross_entropy(logits, c, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + lv.exp() - 1 - lv).sum(1)
    from genmodels.families.vae.vae import _ReverseGrad
    ce = F.cross_entropy(m.critic(_ReverseGrad.apply(mu)), l[:, 0])
    loss = ((nll + BETA * kl) / 64).mean() + ADV * ce
    bits = ((nll + kl) / 64).mean()
    opt.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); sched.step()
    if step % 250 == 0:
        m.eval()
        with torch.no_grad():
            n = 300; sh = torch.arange(n) % 6; co = torch.randint(0, 6, (n,), generator=torch.Generator().manual_seed(1))
            z = torch.randn(n, LAT, generator=torch.Generator().manual_seed(2))
            cm = m.decode(z, m.cond(sh, co)).argmax(1)
            a = shapes_arrays("test", 300); tc = encode_codes(vq, a["images"]); tl = labels_tensor(a); e = m.cond(tl[:, 0], tl[:, 1])
            rec = m.decode(m.encode(levels(a["images"]), e)[0], e).argmax(1)
            code_acc = (rec == tc).float().mean().item()
            imgs = decode_codes(vq, cm)
            p = bb.attribute_predictions(imgs)
        m.train()
        print(json.dumps({"step": step, "min": round((time.time() - t0) / 60, 2), "bits_per_code": round(bits.item() / math.log(2), 3), "critic_ce": round(ce.item(), 3),
                          "kl": round(kl.mean().item(), 1), "shape": float((p["shape"] == sh.numpy()).mean()),
                          "colour": float((p["colour"] == co.numpy()).mean()), "recon_code_acc": round(code_acc, 3)}), flush=True)
        if step % 1000 == 0:
            from PIL import Image
            Image.fromarray(np.concatenate(list(imgs[:24]), 1)).resize((24 * 96, 96), Image.NEAREST).save(f"code-cvae-b{BETA}-a{ADV}-{step}.png")
torch.save(m.state_dict(), "code-cvae.pt")
