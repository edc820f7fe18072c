"""Pieces of the diffusion trainers: captions from labels, the min-SNR weight, the VAE / noisy-net losses on tiny
configs (one optimisation step lowers nothing in particular, but must run and stay finite)."""
import numpy as np
import torch

from genmodels.data import shapes
from genmodels.data.dataset import shapes_arrays
from genmodels.families.diffusion import tiny_sd, train
from genmodels.families.diffusion.nets import HEADS, NoisyLatentEncoder


def test_caption_of_matches_the_scene_caption():
    arr = shapes_arrays("test", 50)
    for i in range(50):
        assert train.caption_of(arr["labels"][i]) == shapes.scene_params("test", i).caption()


def test_min_snr_weight_is_the_papers_formula():
    abar = torch.tensor([0.999, 0.9, 0.5, 0.1, 0.001])
    snr = abar / (1 - abar)
    expected = torch.minimum(snr, torch.tensor(5.0)) / (snr + 1)  # Hang et al. 2023, v-prediction
    assert torch.allclose(train.min_snr_weight(abar), expected)
    assert train.min_snr_weight(torch.tensor([0.5]))[0] == 0.5


def test_vae_loss_and_grad_term():
    torch.manual_seed(0)
    vae = tiny_sd.build_vae(small=True)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    loss, logs = train.vae_loss(vae, (x,), 0)
    loss.backward()
    assert torch.isfinite(loss) and set(logs) == {"l1", "l2", "kl"}
    assert train._grad_l1(x, x) == 0 and train._grad_l1(x, x.flip(-1)) > 0


def test_soft_clip_loss_prefers_matching_pairs():
    ids = torch.tensor([0, 1, 2, 0])
    e = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)[ids]
    good = train._soft_clip_loss(e, e, torch.tensor(20.0), ids)
    bad = train._soft_clip_loss(e, e.roll(1, 0), torch.tensor(20.0), ids)
    assert good < bad


def test_noisy_encoder_heads_and_embeddings():
    clf = NoisyLatentEncoder(widths=(16, 32), heads=HEADS)
    out = clf.logits(torch.randn(3, 4, 16, 16), torch.tensor([0, 500, 999]))
    assert {k: v.shape[1] for k, v in out.items()} == HEADS
    clip = NoisyLatentEncoder(widths=(16, 32), proj_dim=8, text_dim=12)
    e = clip.embed_image(torch.randn(2, 4, 16, 16), torch.tensor(10))
    assert np.allclose(e.norm(dim=-1).detach().numpy(), 1, atol=1e-5)
    assert clip.embed_text(torch.randn(2, 12)).shape == (2, 8)


def test_repa_wrapper_aligns_the_mid_block_and_saves_only_the_unet():
    import copy

    from genmodels.families.diffusion import tiny_sd
    from genmodels.families.diffusion.train import RepaUNet

    torch.manual_seed(0)
    unet = tiny_sd.build_unet(small=True)
    net = RepaUNet(unet, target_dim=24, hidden=16)
    z, t = torch.randn(2, 4, 16, 16), torch.tensor([10, 900])
    h = torch.randn(2, 5, tiny_sd.TEXT_DIM)
    out, feats = net(z, t, encoder_hidden_states=h)
    mid = unet.config.block_out_channels[-1]
    assert out.sample.shape == z.shape and feats.shape[:2] == (2, 24)
    assert "_repa_out" not in unet.mid_block.__dict__  # taken, so the module can be deep-copied (EMA, monitor)
    feats.pow(2).mean().backward()
    assert net.proj[0].weight.shape[1] == mid and net.proj[0].weight.grad is not None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in unet.mid_block.parameters())
    copy.deepcopy(net)
    assert all(k.startswith(("unet.", "proj.")) for k in net.state_dict())
    with torch.no_grad():  # the plain UNet still runs alone, as the pipeline calls it
        assert torch.equal(unet(z, t, encoder_hidden_states=h).sample, net(z, t, encoder_hidden_states=h)[0].sample)
