"""The "VAE" tab (VAE, CVAE, VQ-VAE with a PixelCNN prior, DALL-E-style text -> codes) on embedded weights trained
with ``python -m genmodels train vae|cvae|vqvae|vq-prior|vq-dalle``."""
from ...registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="vae",
    title="VAE / VQ-VAE",
    summary=("Autoencoders with a constrained latent. **VAE**: the encoder gives a Gaussian q(z|x), the decoder a "
             "per-pixel discretized logistic p(x|z) (the PixelCNN++ likelihood with one component), trained on the "
             "ELBO — reported in bits/dim as an upper bound on the negative log-likelihood, beside the PNG size of the "
             "same image. **CVAE**: shape and colour are given to encoder and decoder, so samples can be asked for; it "
             "trains as a CVAE-GAN — its decoder is a conditional GAN generator whose image is the likelihood's mean, "
             "and beside the ELBO a discriminator and a classifier judge its prior samples and its reconstructions "
             "redrawn under another label. "
             "**VQ-VAE**: the encoder's 8×8 grid of vectors snaps to the nearest of 256 learned codebook entries "
             "(straight-through gradients, commitment loss, codebook by moving averages, unused entries restarted), "
             "and the decoder paints the image from the codes. New images come from a prior over code maps: a "
             "class-conditional **Gated PixelCNN** (the PixelCNN tab's implementation, over codes) or a small "
             "**DALL-E-style** transformer that reads a caption and then writes the 64 codes one by one (temperature "
             "and top-k sampling, classifier-free guidance) and, as in DALL-E, draws several candidates a caption "
             "and keeps the one a CLIP scores best — the generators' own CLIP, never the scoring module's. The CVAE "
             "and the VQ prior likewise draw up to k candidates a label and keep the first that a separately trained, "
             "adversarially robust classifier reads as the asked shape with p ≥ 0.95 (VQ-VAE-2's classifier-based "
             "rejection sampling; slider \"up to k candidates\", 1 = off)."),
    papers=("Kingma & Welling 2013 — Auto-Encoding Variational Bayes, arXiv:1312.6114",
            "Sohn, Lee, Yan 2015 — Learning Structured Output Representation using Deep Conditional Generative "
            "Models (NeurIPS)",
            "Bao, Chen, Wen, Li, Hua 2017 — CVAE-GAN: Fine-Grained Image Generation through Asymmetric Training, "
            "arXiv:1703.10155",
            "He, Zuo, Kan, Shan, Chen 2019 — AttGAN: Facial Attribute Editing by Only Changing What You Want, "
            "arXiv:1711.10678",
            "van den Oord, Vinyals, Kavukcuoglu 2017 — Neural Discrete Representation Learning, arXiv:1711.00937",
            "van den Oord et al. 2016 — Conditional Image Generation with PixelCNN Decoders, arXiv:1606.05328",
            "Razavi, van den Oord, Vinyals 2019 — Generating Diverse High-Fidelity Images with VQ-VAE-2, "
            "arXiv:1906.00446",
            "Ramesh et al. 2021 — Zero-Shot Text-to-Image Generation, arXiv:2102.12092",
            "Radford et al. 2021 — Learning Transferable Visual Models From Natural Language Supervision (CLIP), "
            "arXiv:2103.00020"),
    build_tab=lazy_tab("genmodels.families.vae.tab"),
    models=("vae", "cvae", "vqvae", "vq-prior", "vq-dalle"),
    order=22,
))
