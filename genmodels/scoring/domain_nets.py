"""Domain backbones trained on the shapes domain: an attribute classifier and a tiny CLIP pair.

- ``ShapesClassifier``: a VGG-style CNN (Simonyan & Zisserman 2014, arXiv:1409.1556) with batch norm (Ioffe &
  Szegedy 2015, arXiv:1502.03167), one head per attribute. Its 256-d penultimate features stand in for
  Inception-v3's pool3 features in FID / KID / precision-recall / PD (Heusel et al. 2017, arXiv:1706.08500) and its
  shape softmax for Inception's class softmax in IS (Salimans et al. 2016, arXiv:1606.03498). It differs from
  those backbones in one way that matters: it was trained on the shapes domain, so its numbers are comparable
  only with other numbers computed with the same weights (the readout names them).
- ``build_clip``: a transformers ``CLIPModel`` (Radford et al. 2021, arXiv:2103.00020) with a ViT image tower for
  32x32 images and a word-level tokenizer over the caption vocabulary, trained contrastively on shapes captions.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from ..data import shapes

HEADS = {"shape": len(shapes.SHAPES), "colour": len(shapes.COLOUR_NAMES), "fill": len(shapes.FILLS),
         "background": len(shapes.BACKGROUNDS), "size": len(shapes.SIZES)}


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ShapesClassifier(nn.Module, PyTorchModelHubMixin):
    """Images (N, 3, H, W) in [-1, 1] -> a dict of logits per attribute; ``features`` gives the 256-d embedding."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 192), feature_dim: int = 256, image_size: int = 32):
        super().__init__()
        w = list(widths)
        self.image_size = image_size
        self.body = nn.Sequential(
            _conv(3, w[0]), _conv(w[0], w[0]), nn.MaxPool2d(2),
            _conv(w[0], w[1]), _conv(w[1], w[1]), nn.MaxPool2d(2),
            _conv(w[1], w[2]), _conv(w[2], w[2]), nn.MaxPool2d(2),
            _conv(w[2], w[3]),
        )
        self.neck = nn.Sequential(nn.Linear(w[3], feature_dim), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({k: nn.Linear(feature_dim, n) for k, n in HEADS.items()})
        self.num_features = feature_dim  # torchmetrics reads this from a custom feature module

    def _prep(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(self._prep(x))
        return self.neck(h.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        return {k: head(f) for k, head in self.heads.items()}

    @torch.no_grad()
    def fuse_for_inference(self) -> "ShapesClassifier":
        """Fold every BatchNorm into its convolution (eval mode only; outputs equal up to float32 rounding, about
        15 % faster on CPU). Keeps the stage structure that ``feature_maps`` walks."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        self.eval()
        for block in self.body:
            if isinstance(block, nn.Sequential) and isinstance(block[1], nn.BatchNorm2d):
                block[0] = fuse_conv_bn_eval(block[0], block[1])
                block[1] = nn.Identity()
        return self


# ---- tiny CLIP --------------------------------------------------------------------------------------------------

def caption_vocab() -> list[str]:
    """Every word a shapes caption can contain, plus CLIP's special tokens."""
    words = {"a", "on", "background"} | set(shapes.SHAPES) | set(shapes.COLOUR_NAMES) | set(shapes.FILLS) | \
        set(shapes.BACKGROUNDS) | set(shapes.SIZES)
    return ["<|startoftext|>", "<|endoftext|>", "<|unk|>", *sorted(words)]


def write_tokenizer(folder: str | Path) -> None:
    """A CLIP BPE tokenizer (``vocab.json`` + ``merges.txt``) learned on the caption vocabulary.

    BPE (Sennrich et al. 2016, arXiv:1508.07909) is trained with the ``tokenizers`` library on the caption words
    with CLIP's ``</w>`` end-of-word suffix until every caption word is a single token; any other word is still
    tokenized (into known pieces), never an error. The files load with ``CLIPTokenizer.from_pretrained``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = [t for t in caption_vocab() if t.startswith("<|")]
    words = [t for t in caption_vocab() if not t.startswith("<|")]
    bpe = Tokenizer(models.BPE(unk_token="<|unk|>", end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=10_000, special_tokens=specials, end_of_word_suffix="</w>",
                                  initial_alphabet=list("abcdefghijklmnopqrstuvwxyz0123456789"), show_progress=False)
    bpe.train_from_iterator(words * 10, trainer)
    state = json.loads(bpe.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["merges"]]
    (folder / "vocab.json").write_text(json.dumps(state["vocab"], indent=0))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), unk_token="<|unk|>",
                        bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                        model_max_length=16)
    tok.save_pretrained(folder)


def clip_config(vocab_size: int):
    from transformers import CLIPConfig, CLIPTextConfig, CLIPVisionConfig

    text = CLIPTextConfig(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                          pad_token_id=1)
    vision = CLIPVisionConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=128, intermediate_size=384,
                              num_hidden_layers=4, num_attention_heads=4)
    return CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=128)


# Image normalisation for the tiny CLIP's pixel_values: images in [-1, 1] are used as they are.
def clip_pixel_values(x: torch.Tensor, size: int = 32) -> torch.Tensor:
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def load_tokenizer(folder: str | Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(folder))


def build_clip_model(vocab_size: int):
    from transformers import CLIPModel

    return CLIPModel(clip_config(vocab_size))
