"""Guidance math and samplers on tiny random nets: conversions, low-pass, ILVR, gradient guides, determinism."""
import pytest
import torch

from genmodels.families.diffusion import guidance, tiny_sd
from genmodels.families.diffusion.nets import HEADS, NoisyLatentEncoder


@pytest.mark.parametrize("kind", ["v_prediction", "epsilon", "sample"])
def test_prediction_conversions_round_trip(kind):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    abar = torch.tensor(0.3)
    z = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    out = guidance.from_eps(eps, z, abar, kind)
    e2, x2 = guidance.to_eps_x0(out, z, abar, kind)
    assert torch.allclose(e2, eps, atol=1e-5) and torch.allclose(x2, x0, atol=1e-5)


def test_low_pass():
    z = torch.randn(1, 4, 16, 16)
    assert torch.equal(guidance.low_pass(z, 1), z)
    lp = guidance.low_pass(z, 4)
    assert torch.allclose(lp.mean((2, 3)), z.mean((2, 3)), atol=0.05)
    assert lp.diff(dim=-1).abs().mean() < z.diff(dim=-1).abs().mean() / 2  # smoother
    const = torch.full((1, 1, 16, 16), 3.0)
    assert torch.allclose(guidance.low_pass(const, 8), const)


def _nets():
    torch.manual_seed(0)
    unet = tiny_sd.build_unet(small=True, cross_dim=32).eval()
    clf = NoisyLatentEncoder(widths=(16, 32), heads=HEADS).eval()
    clip = NoisyLatentEncoder(widths=(16, 32), proj_dim=16, text_dim=32).eval()
    return unet, clf, clip


def test_classifier_gradient_raises_log_prob():
    _, clf, _ = _nets()
    z, t, y = torch.randn(4, 4, 16, 16), torch.tensor(500), torch.tensor([0, 1, 2, 3])
    g = guidance.classifier_guide(clf, y, 1.0)
    before = g.objective(z, t)
    after = g.objective(z + 0.05 * g.grad(z, t), t)
    assert (after > before).all()


def test_ilvr_last_step_matches_reference_low_frequencies():
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(tiny_sd.default_scheduler().config)
    sched.set_timesteps(5)
    ref = torch.randn(1, 4, 16, 16)
    il = guidance.ILVR(ref, factor=4)
    z = torch.randn(2, 4, 16, 16)
    out = il.apply(sched, z, 4, 5)  # the last step: the reference itself, not noised
    assert torch.allclose(guidance.low_pass(out, 4), guidance.low_pass(ref, 4).expand(2, -1, -1, -1), atol=1e-5)
    assert torch.allclose(guidance.low_pass(guidance.low_pass(z, 4), 4), guidance.low_pass(z, 4), atol=1e-6)
    assert torch.equal(guidance.ILVR(ref, 4, start=0.5, stop=1.0).apply(sched, z, 0, 5), z)  # outside the range


@pytest.mark.parametrize("scheduler", ["DDIMScheduler", "EulerDiscreteScheduler", "DPMSolverMultistepScheduler",
                                       "DDPMScheduler"])
def test_denoise_with_every_guide_is_deterministic(scheduler):
    import diffusers

    unet, clf, clip = _nets()
    cond, unc = torch.randn(2, 16, 32), torch.zeros(1, 16, 32)
    ref = torch.randn(1, 4, 16, 16)
    text = torch.nn.functional.normalize(torch.randn(2, 16), dim=-1)

    def run():
        sched = getattr(diffusers, scheduler).from_config(tiny_sd.default_scheduler().config)
        guides = (guidance.classifier_guide(clf, torch.tensor([1, 2]), 2.0),
                  guidance.clip_guide(clip, text, 1.0),
                  guidance.semantic_guide(clip, clip.embed_image(ref, torch.tensor([0])).detach(), 1.0))
        steps = []
        z = guidance.denoise(unet, sched, cond, unc, steps=4, cfg=3.0, generator=torch.Generator().manual_seed(3),
                             guides=guides, ilvr=guidance.ILVR(ref, 2), callback=steps.append)
        return z, steps

    a, steps = run()
    b, _ = run()
    assert torch.equal(a, b) and len(steps) == 4 and steps[-1].x0.shape == a.shape
    assert torch.isfinite(a).all()
