"""A tiny Stable Diffusion made of the real diffusers / transformers parts, sized for the 32x32 shapes domain.

Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models", arXiv:2112.10752 (LDM / SD);
Zhang, Rao, Agrawala 2023, "Adding Conditional Control to Text-to-Image Diffusion Models", arXiv:2302.05543
(ControlNet). What differs from SD 1.x, and why:

- ``AutoencoderKL`` with f = 4 and 8 channels (32x32x3 -> 8x8x8, ``f4_vae_config``), trained with L1 + a
  perceptual term + a patch GAN and VA-VAE's alignment of the latent with a separately trained shapes network
  (autoencoder.py). On it the 8x8 UNet's samples showed the asked shape 30 / 61 / 81 / 95 % of the time after 2,000 /
  3,000 / 4,000 / 6,000 steps (its monitor); the earlier f = 2 pipeline's (16x16x4) stayed near 21-27 %. An 8x8x4
  latent trained with L1 + L2 alone had lost the stripes (7 % kept); 8 channels keep them. The latents are
  normalised *per channel* by folding mean / std into ``quant_conv`` / ``post_quant_conv``
  (``fold_latent_normalisation``), so ``scaling_factor`` is 1.0 and the stock pipelines work unchanged.
- ``UNet2DConditionModel`` for 8x8 (``f4_unet_config``): two levels (8, 4) of 64 / 128 channels, two resnets each,
  cross-attention at both and in the mid block, the attention-pooled caption added to the time embedding.
- The earlier f = 2 pipeline's configs (``vae_config`` / ``unet_config``, 16x16x4 latents) remain for small test
  models; its weights were dropped once the distilled students moved to the f = 4 teacher (issue 29).
- The text encoder is a small ``CLIPTextModel`` trained contrastively by us (``train sd-text``) with its own image
  tower; it is not the scoring module's CLIP (nothing grades itself). Tokenizer files are shipped with it.

A pipeline saved with ``save_pretrained`` has the folder layout of ``runwayml/stable-diffusion-v1-5``
(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/), so the embedded model and a Hub id load
through the same ``StableDiffusionPipeline.from_pretrained``.
"""
from __future__ import annotations

from pathlib import Path

import torch

LATENT_CHANNELS = 4
IMAGE_SIZE = 32
LATENT_SIZE = 16
TEXT_DIM = 128
MAX_TOKENS = 16
WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
PIPE = "tiny-sd"  # the embedded pipeline folder under genmodels/weights (SD 1.x layout)


def vae_config(small: bool = False) -> dict:
    ch = (16, 32) if small else (32, 64)
    return dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=ch, layers_per_block=1,
                latent_channels=LATENT_CHANNELS, norm_num_groups=8 if small else 16, sample_size=IMAGE_SIZE,
                mid_block_add_attention=False, scaling_factor=1.0)


def f4_vae_config(latent_channels: int = 8) -> dict:
    """f = 4: three blocks, two downsamplings (32x32x3 -> 8x8xC), attention in the 8x8 mid block (64 tokens)."""
    return dict(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
                up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(32, 64, 96), layers_per_block=1,
                latent_channels=latent_channels, norm_num_groups=16, sample_size=IMAGE_SIZE,
                mid_block_add_attention=True, scaling_factor=1.0)


def build_vae(small: bool = False, latent_channels: int | None = None):
    """The shipped 16x16x4 VAE's architecture, or (``latent_channels`` given) the f = 4 one."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(**(f4_vae_config(latent_channels) if latent_channels else vae_config(small)))


def unet_config(small: bool = False, cross_dim: int = TEXT_DIM, text_time: bool = False) -> dict:
    """16x16 level without attention (self-attention over 256 tokens cost 5x the step here), cross-attention at
    8x8 and 4x4 and in the mid block. ``text_time``: the caption also enters every resnet block through the time
    embedding (diffusers' ``addition_embed_type="text"``: attention-pooled text states added to the timestep
    embedding, as unCLIP / Kandinsky do), a global conditioning path beside cross-attention that a plain
    ``StableDiffusionPipeline`` feeds with no extra input."""
    ch = (16, 32) if small else (32, 64, 96)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(ch) - 1)
    up = ("CrossAttnUpBlock2D",) * (len(ch) - 1) + ("UpBlock2D",)
    return dict(sample_size=LATENT_SIZE, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS,
                down_block_types=down, up_block_types=up, block_out_channels=ch, layers_per_block=1,
                cross_attention_dim=cross_dim, attention_head_dim=8 if small else 32,
                norm_num_groups=8 if small else 16,
                **(dict(addition_embed_type="text", addition_embed_type_num_heads=4) if text_time else {}))


def f4_unet_config(latent_channels: int = 8, cross_dim: int = TEXT_DIM, width: tuple[int, ...] = (64, 128),
                   layers: int = 2) -> dict:
    """The UNet for 8x8xC latents: two levels (8x8, 4x4) + the 4x4 mid block, cross-attention at each, two resnets
    per level, and the attention-pooled caption added to the time embedding (``addition_embed_type="text"``)."""
    return dict(sample_size=8, in_channels=latent_channels, out_channels=latent_channels,
                down_block_types=("CrossAttnDownBlock2D",) * len(width),
                up_block_types=("CrossAttnUpBlock2D",) * len(width), block_out_channels=width,
                layers_per_block=layers, cross_attention_dim=cross_dim, attention_head_dim=32, norm_num_groups=32,
                addition_embed_type="text", addition_embed_type_num_heads=4)


def build_unet(small: bool = False, cross_dim: int = TEXT_DIM, text_time: bool = False,
               latent_channels: int | None = None):
    """The shipped 16x16 UNet's architecture, or (``latent_channels`` given) the 8x8 one of ``f4_unet_config``."""
    from diffusers import UNet2DConditionModel

    if latent_channels:
        return UNet2DConditionModel(**f4_unet_config(latent_channels, cross_dim))
    return UNet2DConditionModel(**unet_config(small, cross_dim, text_time))


@torch.no_grad()
def fold_latent_normalisation(vae, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Make the encoder's latent mean (mean - m) / s per channel, exactly, by editing the 1x1 convs around it.

    ``quant_conv`` outputs (mean, logvar) for each latent channel: mean rows are shifted and scaled, logvar rows get
    -2 log s. ``post_quant_conv`` takes z' = (z - m) / s, so its input weights are scaled by s and m folded into its
    bias. Decoding ``encode(x).mean`` is unchanged; the latents are ~N(0, 1) per channel."""
    c = mean.numel()
    q, p = vae.quant_conv, vae.post_quant_conv
    q.weight[:c] /= std.view(-1, 1, 1, 1)
    q.bias[:c] = (q.bias[:c] - mean) / std
    q.bias[c:] -= 2 * torch.log(std)
    w = p.weight.clone()  # (C_out, C_in, 1, 1)
    p.bias += (w[:, :, 0, 0] * mean.view(1, -1)).sum(1)
    p.weight.copy_(w * std.view(1, -1, 1, 1))


def save_pipeline(folder: str | Path, vae, unet, text_encoder, tokenizer, scheduler=None, fp16: bool = False) -> Path:
    """Save the parts as a ``StableDiffusionPipeline`` in the SD 1.x folder layout. ``fp16`` stores the UNet and
    VAE weights in half precision (half the size; diffusers' ``from_pretrained`` loads them back as float32). The
    text encoder is always stored in float32: transformers loads a model in the dtype its config names, so an fp16
    text encoder would meet a float32 UNet in a plain ``StableDiffusionPipeline.from_pretrained(folder)``."""
    from diffusers import StableDiffusionPipeline

    scheduler = scheduler if scheduler is not None else default_scheduler()
    halved = (vae, unet) if fp16 else ()
    for m in halved:
        m.half()
    text_encoder.float()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    for m in halved:
        m.float()
    return Path(folder)


def save_fp16(model, folder: str | Path) -> None:
    """``save_pretrained`` with half-precision weights, for diffusers models and our ``PyTorchModelHubMixin`` nets
    (both load them back as float32). Not for transformers models, which load in their stored dtype."""
    model.half().save_pretrained(str(folder))
    model.float()


def default_scheduler():
    """The training noise schedule: DDPM, 1,000 steps, scaled-linear betas as SD, v-prediction, no clipping of the
    predicted clean latent (latents are not in [-1, 1])."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                         beta_end=0.012, prediction_type="v_prediction", clip_sample=False,
                         timestep_spacing="trailing", steps_offset=1, rescale_betas_zero_snr=False)


def build_random_pipeline(folder: str | Path, seed: int = 0, controlnet_folder: str | Path | None = None,
                          fp16: bool = False) -> Path:
    """A randomly initialised *test-sized* pipeline (and ControlNet) in the SD 1.x layout — for unit tests and for
    checking the Hub loading path offline. Same classes as the embedded model, smallest configs; ``fp16`` saves
    them the way training saves the embedded model."""
    from diffusers import ControlNetModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    import shutil

    torch.manual_seed(seed)
    folder = Path(folder)
    # the shipped tokenizer files (BPE training is not deterministic across processes, so never re-train them here)
    shutil.copytree(Path(__file__).resolve().parents[2] / "weights" / "tiny-sd" / "tokenizer", folder / "tokenizer")
    tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=1, num_attention_heads=2,
                                        max_position_embeddings=MAX_TOKENS, bos_token_id=0, eos_token_id=1,
                                        pad_token_id=1))
    unet = build_unet(small=True, cross_dim=32)
    save_pipeline(folder, build_vae(small=True), unet, text, tok, fp16=fp16)
    if controlnet_folder is not None:
        net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16))
        if fp16:
            save_fp16(net, controlnet_folder)
        else:
            net.save_pretrained(str(controlnet_folder))
    return folder
