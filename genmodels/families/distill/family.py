"""Registers the "Distilled sampler" tab (progressive and guided distillation of the tiny Stable Diffusion)."""
from ...registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="distill",
    title="Distilled sampler",
    summary=("Few-step samplers distilled from the Diffusion tab's tiny Stable Diffusion (v-prediction, the teacher). "
             "**Guided distillation**, stage 1: a student with an extra input for the guidance weight w (diffusers' "
             "`time_cond_proj_dim`, as LCM) learns the classifier-free-guided teacher's prediction for every w in "
             "[1, 8], so one call replaces the conditional + unconditional pair. **Progressive distillation**: a copy "
             "of that student learns to take in one deterministic DDIM step what its teacher takes in two (the "
             "target is the clean latent that makes one step land where two teacher steps land, an MSE in v-space = "
             "SNR+1 weighting); repeated, 64 → 32 → 16 → 8 → 4 → 2 → 1 steps. Each student is a diffusers "
             "`UNet2DConditionModel` with a `DDIMScheduler` config. Compare teacher and student from the same "
             "initial noise, timed, with plain DDIM at the student's step count beside them; curves of quality vs "
             "steps come from the shared scoring module. Hub few-step models (LCM-LoRA, Turbo) run through "
             "diffusers' own schedulers when their weights are cached."),
    papers=("Salimans & Ho 2022 — Progressive Distillation, arXiv:2202.00512",
            "Meng et al. 2023 — On Distillation of Guided Diffusion Models, arXiv:2210.03142",
            "Song, Meng, Ermon 2020 — DDIM, arXiv:2010.02502",
            "Ho & Salimans 2022 — Classifier-free guidance, arXiv:2207.12598",
            "Luo et al. 2023 — Latent Consistency Models / LCM-LoRA, arXiv:2310.04378, arXiv:2311.05556",
            "Sauer et al. 2023 — Adversarial Diffusion Distillation (SD-Turbo), arXiv:2311.17042"),
    build_tab=lazy_tab("genmodels.families.distill.tab"),
    models=("distill",),
    order=45,
))
