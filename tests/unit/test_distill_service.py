"""The distilled sampler's service: teacher / student / plain DDIM from the same noise, input checks, a student that is
not there, and the Hub few-step path (LCM-LoRA in diffusers' layout on a test-sized pipeline, offline)."""
import numpy as np
import pytest
import torch

from genmodels.families.diffusion import service as sd
from genmodels.families.diffusion import tiny_sd
from genmodels.families.distill import progressive as P
from genmodels.families.distill import service
from genmodels.families.distill.train import save_student


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A 'student-4' that is the students' teacher with a zero w input (so it *is* the conditional teacher)."""
    r = tmp_path_factory.mktemp("students")
    save_student(P.make_w_student(service.teacher_pipeline().unet), r / "student-4", {"stage": "4",
                 "student_steps": 4})
    return str(r)


def test_same_noise_for_all_three_and_seeded(root):
    a = service.compare("a red solid star on a light background", 5, 4, 4, 1.0, 2, root=root)
    # w = 1 and a zero w input: the student is the conditional teacher, so all three sets are the same images
    np.testing.assert_array_equal(a["student"], a["ddim"])
    np.testing.assert_array_equal(a["teacher"], a["ddim"])
    b = service.compare("a red solid star on a light background", 5, 64, 4, 3.0, 2, root=root)
    c = service.compare("a red solid star on a light background", 5, 64, 4, 3.0, 2, root=root)
    for k in ("teacher", "student", "ddim"):
        np.testing.assert_array_equal(b[k], c[k])
        assert b[k].shape == (2, 32, 32, 3) and b[k].dtype == np.uint8
    assert not np.array_equal(b["teacher"], b["ddim"])  # 64 vs 4 steps
    assert b["seconds"]["teacher"] > b["seconds"]["student"]


@pytest.mark.parametrize("kw, words", [
    ({"student_steps": 3}, "one of 32, 16, 8, 4, 2, 1"), ({"student_steps": "x"}, "Student steps"),
    ({"w": float("nan")}, "guidance weight"), ({"w": 0.5}, "guidance weight"), ({"w": "high"}, "guidance weight"),
    ({"teacher_steps": 101}, "Teacher steps"), ({"teacher_steps": 2.5}, "Teacher steps"),
    ({"n": 0}, "Images"), ({"prompt": "  "}, "prompt is empty")])
def test_bad_input(root, kw, words):
    args = {"prompt": "a red star", "seed": 0, "teacher_steps": 8, "student_steps": 4, "w": 3.0, "n": 1, "root": root,
            **kw}
    with pytest.raises(ValueError, match=words):
        service.compare(**args)


def test_a_student_that_is_not_there_names_the_command(root):
    with pytest.raises(FileNotFoundError, match="python -m genmodels train distill"):
        service.compare("a red star", 0, 8, 2, 3.0, 1, root=root)


def _lora(pipe_dir, out_dir):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(str(pipe_dir / "unet"))
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian",
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():  # peft starts B at zero (a no-op adapter); a trained LoRA is not
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    StableDiffusionPipeline.save_lora_weights(str(out_dir),
                                              unet_lora_layers=convert_state_dict_to_diffusers(
                                                  get_peft_model_state_dict(unet)))


def test_lcm_lora_in_diffusers_layout_loads_and_samples_offline(tmp_path):
    from diffusers import LCMScheduler

    tiny_sd.build_random_pipeline(tmp_path / "pipe", seed=0)
    _lora(tmp_path / "pipe", tmp_path / "lora")
    assert (tmp_path / "lora" / "pytorch_lora_weights.safetensors").exists()
    a = service.few_step_hub(str(tmp_path / "pipe"), str(tmp_path / "lora"), "LCM-LoRA", "a red star", 2, 1.0, 3, n=2)
    b = service.few_step_hub(str(tmp_path / "pipe"), str(tmp_path / "lora"), "LCM-LoRA", "a red star", 2, 1.0, 3, n=2)
    assert a["images"].shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(a["images"], b["images"])
    assert "LCMScheduler" in a["note"]
    fused = service._lcm_pipeline(str(tmp_path / "pipe"), str(tmp_path / "lora"))
    assert isinstance(fused.scheduler, LCMScheduler)
    base = sd.load_pipeline(str(tmp_path / "pipe"))  # the shared pipeline is not modified by the LoRA
    q = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    fused_sd = fused.unet.state_dict()  # fused: the LoRA delta is in the (peft) base layer's weight
    fused_q = fused_sd.get(q, fused_sd.get(q.replace(".weight", ".base_layer.weight")))
    assert fused_q is not None and not torch.equal(fused_q, base.unet.state_dict()[q])
    t = service.few_step_hub(str(tmp_path / "pipe"), str(tmp_path / "lora"), "Turbo", "a red star", 1, 0.0, 3, n=1)
    assert "EulerAncestralDiscreteScheduler" in t["note"] and t["images"].shape == (1, 32, 32, 3)
    assert "used with LCM-LoRA only" in t["note"]


def test_hub_few_step_bad_input(tmp_path):
    tiny_sd.build_random_pipeline(tmp_path / "pipe", seed=0)
    (tmp_path / "notalora").mkdir()
    pipe = str(tmp_path / "pipe")
    with pytest.raises(ValueError, match="not a LoRA"):
        service.few_step_hub(pipe, str(tmp_path / "notalora"), "LCM-LoRA", "a red star", 2, 1.0, 0)
    with pytest.raises(ValueError, match="needs a LoRA"):
        service.few_step_hub(pipe, " ", "LCM-LoRA", "a red star", 2, 1.0, 0)
    with pytest.raises(ValueError, match="Steps must be"):
        service.few_step_hub(pipe, "", "Turbo", "a red star", 9, 0.0, 0)
    with pytest.raises(ValueError, match="Kind must be"):
        service.few_step_hub(pipe, "", "SDXL", "a red star", 2, 0.0, 0)
    with pytest.raises(ValueError, match="guidance"):
        service.few_step_hub(pipe, "", "Turbo", "a red star", 2, float("nan"), 0)
