"""LoRA students (distill/lora.py): rank allocation under a budget, SVD extraction against an exact low-rank update,
and the diffusers round trip (save_lora_weights layout → load_lora_adapter / pipeline.load_lora_weights)."""
import itertools

import pytest
import torch

from genmodels.families.diffusion import tiny_sd
from genmodels.families.distill import lora as L
from genmodels.families.distill import progressive as P


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return tiny_sd.build_unet(small=True, cross_dim=32).eval()


def _cond(b=2, seed=1):
    return torch.randn(b, 4, 32, generator=torch.Generator().manual_seed(seed))


def _out(net, seed=2):
    g = torch.Generator().manual_seed(seed)
    c = net.config
    z = torch.randn(2, c.in_channels, c.sample_size, c.sample_size, generator=g)
    with torch.no_grad():
        return P.student_denoiser(net, _cond(), torch.tensor([2.0, 5.0]))(z, torch.tensor(500))


def _student(teacher, layers: int = 4, rank: int = 2, seed: int = 3):
    """The base with an exact rank-``rank`` update on ``layers`` Linear / Conv2d layers (and a non-zero w input)."""
    g = torch.Generator().manual_seed(seed)
    net = L.base_unet(teacher)
    mods = L.lora_targets(net)
    picked = ["time_embedding.cond_proj"] + [n for n in mods if n != "time_embedding.cond_proj"][:: 7][:layers - 1]
    with torch.no_grad():
        for name in picked:
            w = mods[name].weight
            m = w.reshape(w.shape[0], -1)
            upd = torch.randn(m.shape[0], rank, generator=g) @ torch.randn(rank, m.shape[1], generator=g) * 0.05
            w.add_(upd.reshape(w.shape))
    return net, picked


def test_allocation_spends_the_budget_on_the_largest_values_per_parameter():
    s = {"a": torch.tensor([10.0, 1.0, 0.1]), "b": torch.tensor([5.0, 4.0, 3.0])}
    shapes = {"a": (3, 3), "b": (3, 3)}  # equal cost (6 per rank): plain largest-first
    assert L.allocate_ranks(s, shapes, 18) == {"a": 1, "b": 2}
    assert L.allocate_ranks(s, shapes, 5) == {}
    # the error it leaves is the smallest any allocation within the budget leaves (exhaustive, unequal costs)
    s = {"a": torch.tensor([6.0, 2.0, 1.0]), "b": torch.tensor([4.0, 3.5, 0.5]), "c": torch.tensor([9.0, 0.2])}
    shapes = {"a": (4, 4), "b": (2, 3), "c": (10, 12)}
    budget = 40
    got = L.allocate_ranks(s, shapes, budget)
    assert sum(r * sum(shapes[n]) for n, r in got.items()) <= budget

    def left(ranks):
        return sum(float(v[ranks.get(n, 0):].pow(2).sum()) for n, v in s.items())

    best = min(left(dict(zip(s, rs))) for rs in itertools.product(*(range(len(v) + 1) for v in s.values()))
               if sum(r * sum(shapes[n]) for n, r in zip(s, rs)) <= budget)
    assert left(got) == pytest.approx(best)


def test_extraction_recovers_an_exact_low_rank_update(teacher):
    student, picked = _student(teacher)
    base = L.base_unet(teacher)
    ranks, factors, stats = L.extract(student, base, budget=10 ** 6)
    assert set(picked) <= set(ranks) and all(ranks[n] >= 2 for n in picked)
    assert stats["relative error"] < 1e-3 and set(ranks) == set(picked) and all(ranks[n] == 2 for n in picked)
    net = L.attach(base, ranks, factors)
    assert torch.allclose(_out(net), _out(student), atol=1e-4)
    # a budget too small for the whole update leaves an error, and its parameters stay within it
    ranks, _, stats = L.extract(student, L.base_unet(teacher), budget=500)
    assert 0 < stats["relative error"] < 1 and stats["lora parameters"] <= 500


def test_lora_student_round_trip_in_diffusers_layout(teacher, tmp_path):
    from safetensors import safe_open

    student, _ = _student(teacher)
    ranks, factors, _ = L.extract(student, L.base_unet(teacher), budget=10 ** 6)
    net = L.attach(L.base_unet(teacher), ranks, factors)
    size = L.save_lora_student(net, tmp_path / "student-4")
    with safe_open(str(tmp_path / "student-4" / L.LORA_WEIGHTS), "pt") as f:
        keys = list(f.keys())
        assert size == (tmp_path / "student-4" / L.LORA_WEIGHTS).stat().st_size
        assert all(k.startswith("unet.") and (".lora_A." in k or ".lora_B." in k) for k in keys)
        assert {f.get_tensor(k).dtype for k in keys} == {torch.float16}
    back = L.read_lora_student(tmp_path / "student-4", teacher)
    assert not any("lora_" in n for n, _ in back.named_parameters())  # fused and unloaded
    assert torch.allclose(_out(back), _out(student), atol=2e-3)
    assert torch.allclose(_out(L.base_unet(teacher)), _out(L.base_unet(teacher)))  # the teacher was not touched


def test_lora_student_loads_through_the_pipeline_api(teacher, tmp_path):
    """The same file through StableDiffusionPipeline.load_lora_weights (the LCM-LoRA path) on a pipeline whose
    UNet is the base."""
    from diffusers import StableDiffusionPipeline

    tiny_sd.build_random_pipeline(tmp_path / "pipe", seed=0)
    pipe = StableDiffusionPipeline.from_pretrained(str(tmp_path / "pipe"), safety_checker=None)
    student, _ = _student(pipe.unet)
    ranks, factors, _ = L.extract(student, L.base_unet(pipe.unet), budget=10 ** 6)
    L.save_lora_student(L.attach(L.base_unet(pipe.unet), ranks, factors), tmp_path / "lora")
    pipe.unet = L.base_unet(pipe.unet)
    pipe.load_lora_weights(str(tmp_path / "lora"))
    pipe.fuse_lora()
    assert torch.allclose(_out(pipe.unet), _out(student), atol=2e-3)


def test_a_lora_student_of_another_teacher_is_refused(teacher, tmp_path):
    student, _ = _student(teacher)
    ranks, factors, _ = L.extract(student, L.base_unet(teacher), budget=10 ** 5)
    L.save_lora_student(L.attach(L.base_unet(teacher), ranks, factors), tmp_path / "s")
    other = tiny_sd.build_unet(small=False, cross_dim=32)
    if list(other.config.block_out_channels) == list(teacher.config.block_out_channels):
        pytest.skip("no second UNet size to compare")
    with pytest.raises(ValueError, match="another teacher"):
        L.read_lora_student(tmp_path / "s", other)
