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


def _over(parts) -> list[str]:
    return [f"{p.relative_to(WEIGHTS)}: {_size(p) / MB:.1f} MB" for p in parts if _size(p) > 8 * MB]


def test_every_other_model_within_8_mb():
    folders = [p for p in sorted(WEIGHTS.iterdir()) if p.is_dir() and p.name != "distill"
               and p.name not in PIPELINES and p.name not in PIPELINES.values()]
    assert not _over(folders), _over(folders)


# Issue 29's bar: each shipped student is a LoRA on the teacher's UNet (distill/lora.py, as LCM-LoRA), not a copy of
# the 8x8 UNet (6.36 M parameters, 12.7 MB in fp16).
def test_each_distilled_student_within_8_mb():
    students = sorted(s for s in (WEIGHTS / "distill").iterdir() if s.is_dir() and s.name.startswith("student-"))
    assert students, "no distilled students shipped"
    assert not _over(students), _over(students)
