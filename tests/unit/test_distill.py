"""Progressive / guided distillation: the step grid against diffusers' DDIMScheduler, Algorithm 2's target, the
w-conditioned student against the CFG teacher, and a few training steps of every stage on a test-sized pipeline."""
import json

import pytest
import torch

from genmodels.families.diffusion import tiny_sd
from genmodels.families.distill import progressive as P


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return tiny_sd.build_unet(small=True, cross_dim=32).eval()


@pytest.fixture(scope="module")
def ac():
    return tiny_sd.default_scheduler().alphas_cumprod.float()


def _cond(b=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 4, 32, generator=g), torch.randn(1, 4, 32, generator=g)


def test_grid_halves_and_matches_stock_trailing_ddim_timesteps():
    from diffusers import DDIMScheduler

    for n in (1, 2, 4, 8, 16, 32):
        assert P.grid(n)[::2] == P.grid(n // 2)[:-1] + [-1] if n > 1 else True
        assert P.grid(2 * n)[::2] == P.grid(n)
        s = DDIMScheduler.from_config(tiny_sd.default_scheduler().config)
        s.set_timesteps(n)
        assert [int(t) for t in s.timesteps] == P.grid(n)[:-1]
    with pytest.raises(ValueError):
        P.grid(0)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_sampler_equals_stock_ddim_for_divisors_of_1000(unet, ac, n):
    """Our DDIM on the grid is diffusers' DDIMScheduler (trailing, alpha-bar 1 at the end) step for step."""
    from diffusers import DDIMScheduler

    cond, unc = _cond()
    den = P.cfg_denoiser(unet, cond, unc, 3.0)
    z0 = torch.randn(3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    ours = P.sample(den, z0.clone(), n, ac)
    s = DDIMScheduler.from_config(tiny_sd.default_scheduler().config)
    s.set_timesteps(n)
    z = z0.clone()
    with torch.no_grad():
        for t in s.timesteps:
            z = s.step(den(z, t), t, z).prev_sample
    torch.testing.assert_close(ours, z, atol=1e-5, rtol=1e-5)


def test_v_target_makes_one_student_step_land_on_the_teachers_two(unet, ac):
    cond, unc = _cond()
    teacher = P.cfg_denoiser(unet, cond, unc, 2.0)
    for n in (1, 2, 4):
        k = torch.arange(3) % n
        z = torch.randn(3, 4, 16, 16, generator=torch.Generator().manual_seed(n))
        v = P.progressive_target(teacher, z, k, n, ac)
        g2, g1 = torch.tensor(P.grid(2 * n)), torch.tensor(P.grid(n))
        # two teacher steps, sample by sample
        z_two = []
        for i in range(3):
            zi = z[i:i + 1]
            den = P.cfg_denoiser(unet, cond[i:i + 1], unc, 2.0)
            for j in (2 * int(k[i]), 2 * int(k[i]) + 1):
                with torch.no_grad():
                    zi = P.ddim_step(den(zi, g2[j]), zi, P.abar_at(ac, g2[j]), P.abar_at(ac, g2[j + 1]))
            z_two.append(zi)
        z_two = torch.cat(z_two)
        one = P.ddim_step(v, z, P.abar_at(ac, g1[k]), P.abar_at(ac, g1[k + 1]))
        torch.testing.assert_close(one, z_two, atol=1e-4, rtol=1e-4)


def test_v_target_at_the_clean_end_is_the_teachers_x0(ac):
    z_t, x = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    a = P.abar_at(ac, torch.tensor([499, 499]))
    v = P.v_target(z_t, x, a, torch.ones(2))
    torch.testing.assert_close(a.sqrt().view(-1, 1, 1, 1) * z_t - (1 - a).sqrt().view(-1, 1, 1, 1) * v, x)


def test_w_embedding_is_lcms_guidance_embedding():
    from diffusers import LatentConsistencyModelPipeline

    w = torch.tensor([1.0, 3.0, 7.5])
    ref = LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, w - 1, 256)
    torch.testing.assert_close(P.w_embedding(w), ref, atol=2e-3, rtol=0)


def test_w_student_starts_as_the_conditional_teacher_and_then_depends_on_w(unet):
    student = P.make_w_student(unet).eval()
    cond, _ = _cond()
    z, t = torch.randn(3, 4, 16, 16), torch.tensor(500)
    with torch.no_grad():
        ref = unet(z, t.expand(3), encoder_hidden_states=cond).sample
        for w in (1.0, 5.0):
            torch.testing.assert_close(P.student_denoiser(student, cond, w)(z, t), ref)
        torch.nn.init.normal_(student.time_embedding.cond_proj.weight, std=0.1)
        assert not torch.allclose(P.student_denoiser(student, cond, 1.0)(z, t),
                                  P.student_denoiser(student, cond, 5.0)(z, t))


def test_stages_plan():
    from genmodels.families.distill.train import stages

    assert stages(64, 1) == [32, 16, 8, 4, 2, 1]
    assert stages(8, 4) == [4]
    for bad in ((64, 3), (48, 1), (4, 4), (4, 8)):
        with pytest.raises(ValueError):
            stages(*bad)


def test_train_distill_runs_every_stage_resumes_and_saves_diffusers_students(tmp_path):
    from diffusers import DDIMScheduler, UNet2DConditionModel

    from genmodels.families.distill import lora as L
    from genmodels.families.distill import train as T
    from genmodels.families.distill.students import read_student

    tiny_sd.build_random_pipeline(tmp_path / "pipe", seed=0)
    recipe = T.DistillRecipe(batch=4, monitor_every=2, monitor_n=8, lora_budget=20_000,
                             lora_teacher={4: "cfg", 2: "shipped", 1: "student"})
    kw = dict(steps=2, teacher=str(tmp_path / "pipe"), steps_from=8, steps_to=1, out=tmp_path / "out",
              run_dir=tmp_path / "runs", recipe=recipe, n_train=64)
    res = T.train_distill(**kw)
    assert set(res) == {"w", "4", "2", "1", "lora-4", "lora-2", "lora-1"}
    full = tmp_path / "runs" / "students"
    for name, steps in (("student-w", 8), ("student-4", 4), ("student-2", 2), ("student-1", 1)):
        info = json.loads((full / name / "distill.json").read_text())
        assert info["student_steps"] == steps and info["train_steps"] == 2
        unet = UNet2DConditionModel.from_pretrained(str(full / name))
        assert unet.config.time_cond_proj_dim == P.W_EMBED_DIM
    assert json.loads((full / "student-4" / "distill.json").read_text())["teacher"] == "student-w"
    # what ships: LoRA students in diffusers' layout, within the budget, fine-tuned from their extraction
    for name, steps, teacher in (("student-4", 4, "CFG teacher, 8 DDIM steps"),
                                 ("student-2", 2, "student-4 (LoRA, shipped)"), ("student-1", 1, "student-2 (full)")):
        folder = tmp_path / "out" / name
        info = json.loads((folder / "distill.json").read_text())
        assert info["student_steps"] == steps and info["train_steps"] == 2 and info["teacher"] == teacher
        assert info["extraction"]["lora parameters"] <= 20_000 and info["full_student"]["train_steps"] == 2
        assert (folder / L.LORA_WEIGHTS).exists() and not (folder / "diffusion_pytorch_model.safetensors").exists()
        sched = DDIMScheduler.from_pretrained(str(folder))
        assert sched.config.prediction_type == "v_prediction" and sched.config.timestep_spacing == "trailing"
        assert read_student(folder).config.time_cond_proj_dim == P.W_EMBED_DIM
    assert not (tmp_path / "out" / "student-w").exists()
    rows = [json.loads(r) for r in (tmp_path / "out" / "monitor.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in rows] == [("w", 2), ("4", 2), ("2", 2), ("1", 2), ("lora-4-cfg", 0),
                                                       ("lora-4-cfg", 2), ("lora-2-shipped", 0), ("lora-2-shipped", 2),
                                                       ("lora-1", 0), ("lora-1", 2)]
    assert all("student FID_domain" in r and "DDIM FID_domain" in r for r in rows)
    # a second run finds every stage done and trains nothing
    before = (tmp_path / "out" / "student-1" / L.LORA_WEIGHTS).read_bytes()
    assert T.train_distill(**kw) == res
    assert (tmp_path / "out" / "student-1" / L.LORA_WEIGHTS).read_bytes() == before


def test_cards_list_every_student_with_its_numbers(tmp_path):
    from genmodels.families.distill.evaluate import write_cards
    from genmodels.families.distill.train import save_student

    unet = P.make_w_student(tiny_sd.build_unet(small=True, cross_dim=32))
    base = {"w_range": [1.0, 8.0], "train_steps": 5, "batch": 4, "lr": 1e-4, "ema": 0.99, "n_train": 64,
            "wall_min": 0.5, "wall_min_with_monitor": 0.7, "device": "cpu"}
    save_student(unet, tmp_path / "student-w", {**base, "stage": "w", "student_steps": 64, "teacher_steps": 64,
                                                "teacher": "CFG teacher (w input learned)"})
    save_student(unet, tmp_path / "student-32", {**base, "stage": "32", "student_steps": 32, "teacher_steps": 64,
                                                 "teacher": "student-w"})
    data = {"columns": {"teacher, 64 steps": {"FID_domain": 100.0}, "plain DDIM, 32 steps": {"FID_domain": 110.0},
                        "student, 32 steps": {"FID_domain": 105.5, "caption accuracy": 0.25, "CLIP score": 70.1}},
            "footnote": "N = 8"}
    write_cards(tmp_path, data)
    top = (tmp_path / "README.md").read_text()
    assert "| [student-w](student-w/README.md) | 64 | CFG teacher" in top
    assert "| [student-32](student-32/README.md) | 32 | student-w | 5 | 0.5 | 105.5 | 0.25 | 70.1 |" in top
    assert "1.0 min of training loop" in top
    card = (tmp_path / "student-32" / "README.md").read_text()
    assert "| FID_domain | 105.5 |" in card and "Plain DDIM of the teacher at 32 steps" in card
    assert "python -m genmodels train distill" in (tmp_path / "student-w" / "README.md").read_text()


def test_cards_of_lora_students_say_how_they_were_made(tmp_path):
    from genmodels.families.distill.evaluate import write_cards

    full = {"stage": "4", "student_steps": 4, "teacher_steps": 8, "teacher": "student-8", "w_range": [1.0, 8.0],
            "train_steps": 900, "batch": 64, "lr": 2e-4, "ema": 0.99, "n_train": 60000, "wall_min": 17.5,
            "device": "cpu"}
    info = {"stage": "lora-4-shipped", "student_steps": 4, "teacher": "student-8 (LoRA, shipped)",
            "extraction": {"relative error": 0.19, "lora parameters": 3_799_944, "layers": 186},
            "lora_bytes": 7_672_448, "ranks": {"min": 1, "max": 90, "layers": 186}, "train_steps": 600,
            "wall_min": 10.5, "wall_min_with_monitor": 11.0, "batch": 64, "lr": 1e-4, "ema": 0.99, "device": "cpu",
            "full_student": full}
    (tmp_path / "student-4").mkdir()
    (tmp_path / "student-4" / "distill.json").write_text(json.dumps(info))
    data = {"columns": {"student, 4 steps": {"FID_domain": 15.0, "caption accuracy": 0.95, "CLIP score": 88.0}},
            "footnote": "N = 8"}
    write_cards(tmp_path, data)
    top = (tmp_path / "README.md").read_text()
    assert ("| [student-4](student-4/README.md) | 4 | student-8; LoRA: student-8 (LoRA, shipped) | 900 + 600 | 28.0 | "
            "15.0 | 0.95 | 88.0 |") in top
    card = (tmp_path / "student-4" / "README.md").read_text()
    assert "A **LoRA** on the teacher's UNet" in card and "7.7 MB fp16" in card and "ranks 1–90" in card
    assert "relative Frobenius error of the update 0.19" in card and "student-8 (LoRA, shipped) as teacher" in card
