"""The tiny Stable Diffusion's caption encoder: ``python -m genmodels train sd-text``.

A small ``CLIPTextModel`` (Radford et al. 2021, "Learning Transferable Visual Models From Natural Language
Supervision", arXiv:2103.00020) trained contrastively against its own small pixel tower on rendered captions; only
the text side is shipped (``text_encoder/`` + ``tokenizer/`` of the pipeline folder). Not the scoring module's CLIP.
"""
from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

from ...data.dataset import shapes_arrays, to_tensor
from ...training import TrainConfig, infinite_batches, train
from . import tiny_sd
from .common import PIPE, RUNS, caption_of, caption_table, out_folder, tokenize


def text_config(vocab_size: int, small: bool = False):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=vocab_size, hidden_size=32 if small else tiny_sd.TEXT_DIM,
                          intermediate_size=64 if small else 256, num_hidden_layers=1 if small else 2,
                          num_attention_heads=2 if small else 4, max_position_embeddings=tiny_sd.MAX_TOKENS,
                          bos_token_id=0, eos_token_id=1, pad_token_id=1, projection_dim=tiny_sd.TEXT_DIM)


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


def soft_clip_loss(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE; pairs with the same caption are all positives."""
    logits = scale.clamp(max=100) * img @ txt.T
    same = (ids[:, None] == ids[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    return (-(target * F.log_softmax(logits, 1)).sum(1).mean() - (target * F.log_softmax(logits.T, 1)).sum(1).mean()) / 2


def train_sd_text(steps: int = 1500, batch: int = 256, n_train: int = 100_000, seed: int = 0, out=None,
                  run_dir=None) -> dict:
    from transformers import CLIPTokenizer

    from ...scoring.domain_nets import write_tokenizer

    torch.manual_seed(seed)
    folder = out_folder(PIPE, out)
    write_tokenizer(folder / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    uniq, cap_ids, _ = caption_table(n_train)
    tokens = tokenize(tokenizer, uniq)
    images = to_tensor(shapes_arrays("train", n_train)["images"])
    model = _TextCLIP(len(tokenizer))

    def loss_fn(m, b, step):
        x, cid = b
        txt = F.normalize(m.text_proj(m.text(input_ids=tokens[cid]).pooler_output), dim=-1)
        loss = soft_clip_loss(m.image(x), txt, m.logit_scale.exp(), cid)
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
