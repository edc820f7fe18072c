"""Registers the "Metrics" tab: the scoring module on a person's own images."""
from ..registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="metrics",
    title="Metrics",
    summary=("One scoring module behind every number in the hub, here on your own images. **Sets**: FID, KID, IS "
             "and precision/recall of set A against set B (upload images or a zip, or pick a split of the shapes "
             "domain). **Pair**: SSIM, PSNR, LPIPS, PD and the Gram style distance of two images. **CLIP**: CLIP score "
             "of an image and a text. Every number names its backbone and N and carries a 95 % bootstrap interval. "
             "Offline, the backbones are networks trained on the shapes domain (a classifier for FID/KID/IS/PR/PD, a "
             "tiny CLIP); Inception-v3, LPIPS-AlexNet and CLIP ViT-B/16 are used when their weights are cached."),
    papers=("Heusel et al. 2017 — FID, arXiv:1706.08500", "Bińkowski et al. 2018 — KID, arXiv:1801.01401",
            "Salimans et al. 2016 — IS, arXiv:1606.03498",
            "Kynkäänniemi et al. 2019 — improved precision and recall, arXiv:1904.06991",
            "Wang et al. 2004 — SSIM, IEEE TIP 13(4)", "Zhang et al. 2018 — LPIPS, arXiv:1801.03924",
            "Gatys et al. 2016 — style (Gram) distance, arXiv:1508.06576",
            "Hessel et al. 2021 — CLIPScore, arXiv:2104.08718", "Karras et al. 2019 — PPL, arXiv:1812.04948"),
    build_tab=lazy_tab("genmodels.hub.metrics_tab"),
    models=("shapes-classifier", "shapes-clip"),
    order=1,
))
