"""Registers the "Diffusion" tab (tiny Stable Diffusion + ControlNet, guidance lab, DDPM trajectory)."""
from ...registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="diffusion",
    title="Diffusion",
    summary=("A latent diffusion model (Stable Diffusion's recipe, made of the real diffusers parts): an "
             "AutoencoderKL maps 32×32 images to 8×8×8 latents (f = 4, aligned with a shapes network's features "
             "as in VA-VAE), a UNet2DConditionModel with cross-attention to a "
             "CLIPTextModel's token states learns to denoise them (v-prediction), and any diffusers scheduler "
             "(DDPM, DDIM, Euler, DPM-Solver++) samples. **Classifier-free guidance** mixes the conditional and "
             "unconditional predictions; **classifier guidance** adds the gradient of a noise-aware classifier; "
             "**CLIP guidance** the gradient of a noise-aware CLIP's similarity to the prompt; **ILVR** replaces "
             "the low frequencies of every step with those of a noised reference; **reference (SDG)** follows an "
             "image embedding. **ControlNet** copies the UNet's encoder, feeds it an edge map through zero "
             "convolutions and adds its features to the frozen UNet's. The same code loads SD 1.x checkpoints from "
             "the Hub when they are cached or reachable. Every readout uses the shared scoring module."),
    papers=("Ho, Jain, Abbeel 2020 — DDPM, arXiv:2006.11239", "Song, Meng, Ermon 2020 — DDIM, arXiv:2010.02502",
            "Rombach et al. 2022 — Latent Diffusion / Stable Diffusion, arXiv:2112.10752",
            "Yao, Yang, Wang 2025 — VA-VAE (latent aligned with a vision model), arXiv:2501.01423",
            "Yu et al. 2024 — REPA (representation alignment), arXiv:2410.06940",
            "Ho & Salimans 2022 — Classifier-free guidance, arXiv:2207.12598",
            "Dhariwal & Nichol 2021 — Classifier guidance (ADM), arXiv:2105.05233",
            "Nichol et al. 2021 — GLIDE (CLIP guidance), arXiv:2112.10741",
            "Choi et al. 2021 — ILVR, arXiv:2108.02938",
            "Liu et al. 2023 — SDG (semantic guidance), arXiv:2112.05744",
            "Zhang, Rao, Agrawala 2023 — ControlNet, arXiv:2302.05543",
            "Karras et al. 2022 — EDM (Euler sampler), arXiv:2206.00364",
            "Lu et al. 2022 — DPM-Solver++, arXiv:2211.01095"),
    build_tab=lazy_tab("genmodels.families.diffusion.tab"),
    models=("tiny-sd", "tiny-sd-controlnet-edges", "sd-noisy-classifier", "sd-noisy-clip"),
    order=40,
))
