"""Registers the "Edit" tab: DDIM inversion, Blended latent diffusion, Prompt-to-Prompt, Diffusion Autoencoders and
DragDiffusion on the tiny Stable Diffusion — keep the subject, change what was asked."""
from ...registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="edit",
    title="Edit",
    summary=("Edits of a real image (a test item or an upload) with the Diffusion tab's tiny Stable Diffusion. **DDIM inversion** runs the deterministic DDIM sampler backwards (diffusers' "
             "`DDIMInverseScheduler` from the pipeline's own scheduler config) to the noise that regenerates the "
             "image; every method below starts from it. **Blended latent diffusion** regenerates only a masked "
             "region from a prompt: outside the mask, the original latent noised to each step's level replaces the "
             "sample at every step, and the original pixels are put back at the end. **Prompt-to-Prompt** denoises "
             "the source and the edited prompt together and gives the edited branch the source's cross-attention "
             "maps (word swap) or rescales one word's maps (re-weighting), through diffusers attention processors "
             "that store and inject the maps; each token's map is shown. **Diffusion Autoencoder** (the one method "
             "here with a trained part) encodes the image twice: a semantic code, which a small encoder trained "
             "against the frozen UNet turns into the UNet's cross-attention states, and the inverted noise under "
             "those states; moving the code along a linear classifier's direction (colour, fill, shape, size, "
             "background) and decoding with the same noise changes that attribute and keeps the layout. "
             "**DragDiffusion** inverts to an "
             "intermediate step, optimises that latent so the UNet decoder's features around each clicked handle "
             "move one pixel towards its target per iteration (motion supervision), re-finds the handles by feature "
             "matching (point tracking), and denoises. Each result is read out by the shared scoring module: what "
             "was kept (PSNR / SSIM / LPIPS or PD outside the mask or the object), what changed (the scoring "
             "classifier on the asked attribute, CLIP score to the new caption) and the time."),
    papers=("Song, Meng, Ermon 2020 — DDIM (and its inversion), arXiv:2010.02502",
            "Avrahami, Fried, Lischinski 2023 — Blended Latent Diffusion, arXiv:2206.02779",
            "Hertz et al. 2022 — Prompt-to-Prompt Image Editing with Cross Attention Control, arXiv:2208.01626",
            "Ju et al. 2023 — PnP Inversion (direct inversion), arXiv:2310.01506",
            "Mokady et al. 2023 — Null-text Inversion, arXiv:2211.09794",
            "Preechakul et al. 2022 — Diffusion Autoencoders, arXiv:2111.15640",
            "Gal et al. 2022 — Textual Inversion, arXiv:2208.01618",
            "Shi et al. 2023 — DragDiffusion, arXiv:2306.14435",
            "Pan et al. 2023 — DragGAN, arXiv:2305.10973",
            "Cao et al. 2023 — MasaCtrl (mutual self-attention), arXiv:2304.08465"),
    build_tab=lazy_tab("genmodels.families.edit.tab"),
    models=("tiny-sd", "edit-diffae", "edit"),  # edit/: the held-out metrics.json the tab shows
    order=47,
))
