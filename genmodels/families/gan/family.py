"""Registers the "GAN" tab (DCGAN, CGAN, StyleGAN, BigGAN-style, StackGAN, the Age-cGAN-style edit, DragGAN)."""
from ...registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="gan",
    title="GAN",
    summary=("A prior z ~ N(0, I) mapped to images by a generator trained against a discriminator. **DCGAN**: "
             "all-convolutional G and D. **CGAN**: shape and colour labels fed to both networks; its generator is layered "
             "(LR-GAN): a background, then an object drawn with its mask in a canonical frame and placed by a "
             "learned pose (centre, size, rotation) through a spatial transformer — the Layers view shows each part. "
             "**StyleGAN**: a "
             "mapping network z → w, a learned constant input, modulated convolutions with weight demodulation "
             "(StyleGAN2), per-layer noise, style-mixing regularisation and the truncation trick toward the tracked "
             "mean w (ψ = 0: the mean image; ψ = 1: untruncated). **BigGAN-style**: a shared class embedding and chunks of a hierarchical z drive every conditional batch norm, a projection discriminator, hinge loss, orthogonal regularisation and the truncated-normal trick. **StackGAN**: a caption encoder with conditioning augmentation, a 16×16 stage I and a "
             "32×32 stage II that refines it with the text again. **Age-cGAN-style edit**: an encoder from image to "
             "the layered CGAN's code (noise and pose), identity-preserving latent optimisation, then one condition "
             "changed with the pose kept (a new shape registered to the old one's centre, radius and rotation). "
             "**DragGAN**: handle points dragged to targets by motion supervision on the generator's features — "
             "on the layered CGAN its object's pose moves and the handles are tracked by its spatial transformer; on "
             "StyleGAN by nearest-neighbour feature search. Interpolation compares slerp in Z with lerp in W and "
             "measures the perceptual path length of each path. Every readout uses the shared scoring module on the "
             "shapes test split."),
    papers=("Goodfellow et al. 2014 — GANs, arXiv:1406.2661", "Radford, Metz, Chintala 2015 — DCGAN, arXiv:1511.06434",
            "Mirza & Osindero 2014 — Conditional GANs, arXiv:1411.1784",
            "Yang, Kannan, Batra, Parikh 2017 — LR-GAN, arXiv:1703.01560",
            "Jaderberg et al. 2015 — Spatial transformer networks, arXiv:1506.02025",
            "Karras, Laine, Aila 2019 — StyleGAN, arXiv:1812.04948",
            "Karras et al. 2020 — StyleGAN2, arXiv:1912.04958",
            "Brock, Donahue, Simonyan 2018 — BigGAN, arXiv:1809.11096",
            "Mao et al. 2019 — Mode seeking GANs, arXiv:1903.05628",
            "Zhang et al. 2017 — StackGAN, arXiv:1612.03242",
            "Miyato & Koyama 2018 — cGANs with projection discriminator, arXiv:1802.05637",
            "Antipov, Baccouche, Dugelay 2017 — Age-cGAN, arXiv:1702.01983",
            "Pan et al. 2023 — DragGAN, arXiv:2305.10973"),
    build_tab=lazy_tab("genmodels.families.gan.tab"),
    models=("dcgan", "cgan", "stylegan", "biggan", "stackgan", "gan-encoder"),
    order=10,
))
