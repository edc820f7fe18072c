"""Registers the "Data" tab: a browser of the bundled shapes domain."""
from ..registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="data",
    title="Data",
    summary=("The bundled *shapes* domain that every embedded model trains on and every metric is judged against: "
             "procedural 32×32 scenes (6 shapes × 6 colours × solid/striped fill × 3 backgrounds, with random size, "
             "position and rotation), each with its caption, exact edge map and mask from the geometry, and the same "
             "scene in the other fill. Item *i* of a split is a pure function of (split, *i*); the test split's "
             "2,000 items are the reference set of every metric."),
    papers=("Matthey, Higgins, Hassabis, Lerchner 2017 — dSprites: disentanglement testing sprites dataset",
            "Johnson et al. 2017 — CLEVR, arXiv:1612.06890 (procedural scenes with ground truth)"),
    build_tab=lazy_tab("genmodels.data.tab"),
    order=0,
))
