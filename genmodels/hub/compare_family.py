"""Registers the "Compare" tab: every family on one condition, the blind arena and the leaderboard."""
from ..registry import Family, lazy_tab, register

FAMILY = register(Family(
    key="compare",
    title="Compare",
    summary=("**Compare**: pick one condition — shape, colour, fill, background — and a seed; every embedded model "
             "answers it in the form it can take (class-conditional models get shape + colour, caption models the "
             "caption, image-conditioned models the domain's own scene with those attributes: its edge map for "
             "pix2pix / ControlNet, its other-fill twin for CycleGAN; unconditional models are shown as such). The "
             "scoring classifier, which never trained a generator, says which images show what was asked. The "
             "readout panel sets this click beside the leaderboard. **Arena**: two anonymous models, one condition; "
             "vote, then see who was who; ratings are a Bradley–Terry fit on the Elo scale with bootstrap intervals. "
             "**Leaderboard**: every model under one protocol (N images, the same conditions, backbone and seeds), "
             "recomputed with `python -m genmodels leaderboard`."),
    papers=("Chiang et al. 2024 — Chatbot Arena (pairwise votes, Bradley–Terry ratings), arXiv:2403.04132",
            "Jiang et al. 2024 — GenAI-Arena (arena for image generation), arXiv:2406.04485",
            "Bradley & Terry 1952 — Rank analysis of incomplete block designs, Biometrika 39(3/4)",
            "Heusel et al. 2017 — FID, arXiv:1706.08500",
            "Kynkäänniemi et al. 2019 — improved precision and recall, arXiv:1904.06991"),
    build_tab=lazy_tab("genmodels.hub.compare_tab"),
    models=(),
    order=-1,
))
