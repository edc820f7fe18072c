"""The embedded weights stay within the budget DESIGN.md §6 and issue 29 set: ≤ 150 MB in all, ≤ 8 MB per model,
a pipeline + its ControlNet ≤ 30 MB together, each distilled student ≤ 8 MB."""
from pathlib import Path

import pytest

WEIGHTS = Path(__file__).resolve().parents[2] / "genmodels" / "weights"
MB = 1024 * 1024
PIPELINES = {"tiny-sd": "tiny-sd-controlnet-edges"}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def test_whole_weights_folder_within_150_mb():
    assert _size(WEIGHTS) <= 150 * MB, f"{_size(WEIGHTS) / MB:.1f} MB"


@pytest.mark.parametrize("pipe", sorted(PIPELINES))
def test_pipeline_and_its_controlnet_within_30_mb(pipe):
    total = _size(WEIGHTS / pipe) + _size(WEIGHTS / PIPELINES[pipe])
    assert total <= 30 * MB, f"{pipe}: {total / MB:.1f} MB"


def test_every_other_model_and_each_student_within_8_mb():
    big = []
    for folder in sorted(p for p in WEIGHTS.iterdir() if p.is_dir()):
        if folder.name in PIPELINES or folder.name in PIPELINES.values():
            continue
        parts = [s for s in folder.iterdir() if s.is_dir() and s.name.startswith("student-")] \
            if folder.name == "distill" else [folder]
        big += [f"{p.relative_to(WEIGHTS)}: {_size(p) / MB:.1f} MB" for p in parts if _size(p) > 8 * MB]
    assert not big, big
