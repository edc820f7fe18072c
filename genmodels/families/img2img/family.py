"""Registers the "Image-to-image" tab (pix2pix, CycleGAN, Gatys style transfer)."""
from ...registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="img2img",
    title="Image-to-image",
    summary=("GANs conditioned on an image. **pix2pix**: a U-Net generator with skip connections maps an input image "
             "to an output image, trained on *pairs* with L1 + a conditional PatchGAN discriminator that judges "
             "(input, output) patches; here the input is the exact edge map of a shapes scene (with its "
             "hole-filled interior) plus colour / fill / background planes (the edges fix the silhouette, the pickers say what to paint). **CycleGAN**: two "
             "ResNet generators G: A → B and F: B → A trained on *unpaired* sets with adversarial losses, a cycle "
             "loss F(G(a)) ≈ a and an identity loss; here A = solid shapes, B = striped shapes, drawn from disjoint "
             "items — every test scene's other-fill twin is the ground truth it never saw. **Style transfer** "
             "(Gatys): an image is optimised (L-BFGS) to keep one image's deep features and take the Gram matrices of "
             "another's; offline the features come from a fixed random multi-scale network, VGG-19 when its weights "
             "are cached. The networks have the reference implementation's layout: its latest_net_G.pth files load "
             "in the Weights box. Every readout uses the shared scoring module."),
    papers=("Isola, Zhu, Zhou, Efros 2017 — pix2pix, arXiv:1611.07004",
            "Zhu, Park, Isola, Efros 2017 — CycleGAN, arXiv:1703.10593",
            "Gatys, Ecker, Bethge 2016 — Image Style Transfer Using CNNs, arXiv:1508.06576",
            "Ustyuzhaninov, Brendel, Gatys, Bethge 2017 — textures from random networks, arXiv:1606.00021",
            "Johnson, Alahi, Fei-Fei 2016 — ResNet generator, perceptual losses, arXiv:1603.08155",
            "Mao et al. 2017 — LSGAN, arXiv:1611.04076"),
    build_tab=lazy_tab("genmodels.families.img2img.tab"),
    models=("pix2pix", "cyclegan"),
    order=20,
))
