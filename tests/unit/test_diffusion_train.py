"""Pieces of the diffusion trainers: captions from labels, the min-SNR weight, the VAE / noisy-net losses on tiny
configs (one optimisation step lowers nothing in particular, but must run and stay finite)."""
import numpy as np
import torch

from genmodels.data import shapes
from genmodels.data.dataset import shapes_arrays
from genmodels.families.diffusion import autoencoder, common, text, tiny_sd
from genmodels.families.diffusion.nets import HEADS, NoisyLatentEncoder


def test_caption_of_matches_the_scene_caption():
    arr = shapes_arrays("test", 50)
    for i in range(50):
        assert common.caption_of(arr["labels"][i]) == shapes.scene_params("test", i).caption()


def test_min_snr_weight_is_the_papers_formula():
    abar = torch.tensor([0.999, 0.9, 0.5, 0.1, 0.001])
    snr = abar / (1 - abar)
    expected = torch.minimum(snr, torch.tensor(5.0)) / (snr + 1)  # Hang et al. 2023, v-prediction
    assert torch.allclose(common.min_snr_weight(abar), expected)
    assert common.min_snr_weight(torch.tensor([0.5]))[0] == 0.5


def test_vae_loss_and_grad_term():
    torch.manual_seed(0)
    vae = tiny_sd.build_vae(small=True)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    loss, logs = autoencoder.vae_loss(vae, (x,), 0)
    loss.backward()
    assert torch.isfinite(loss) and set(logs) == {"l1", "l2", "kl"}
    assert autoencoder._grad_l1(x, x) == 0 and autoencoder._grad_l1(x, x.flip(-1)) > 0


def test_soft_clip_loss_prefers_matching_pairs():
    ids = torch.tensor([0, 1, 2, 0])
    e = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)[ids]
    good = text.soft_clip_loss(e, e, torch.tensor(20.0), ids)
    bad = text.soft_clip_loss(e, e.roll(1, 0), torch.tensor(20.0), ids)
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
    from genmodels.families.diffusion.unet import RepaUNet

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


def test_f4_parts_take_32px_images_to_8x8_latents_and_back():
    from genmodels.families.diffusion.control import build_controlnet

    torch.manual_seed(0)
    vae = tiny_sd.build_vae(latent_channels=8)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mean
        assert z.shape == (2, 8, 8, 8) and vae.decode(z).sample.shape == x.shape
    unet = tiny_sd.build_unet(latent_channels=8)
    assert unet.config.sample_size == 8 and unet.config.addition_embed_type == "text"
    h = torch.randn(2, 5, tiny_sd.TEXT_DIM)
    net = build_controlnet(unet)  # the conditioning embedding must bring 32x32 edges down to 8x8
    with torch.no_grad():
        down, mid = net(z, torch.tensor([1, 500]), encoder_hidden_states=h,
                        controlnet_cond=torch.zeros(2, 3, 32, 32), return_dict=False)
        out = unet(z, torch.tensor([1, 500]), encoder_hidden_states=h, down_block_additional_residuals=down,
                   mid_block_additional_residual=mid).sample
    assert out.shape == z.shape


def test_perceptual_and_alignment_losses_are_zero_on_identical_inputs_and_positive_otherwise():
    torch.manual_seed(0)
    f = [torch.randn(2, 6, 8, 8), torch.randn(2, 5, 4, 4)]
    assert autoencoder.perceptual(f, f) < 1e-6
    assert autoencoder.perceptual(f, [-t for t in f]) > 1.0  # opposite unit vectors: squared distance 4
    t = torch.randn(2, 7, 8, 8)
    assert autoencoder.alignment(t, t) < 1e-6
    # VA-VAE's margins: within them nothing is penalised; anti-aligned features are
    assert autoencoder.alignment(-t, t) > 1.0
    # the distance-matrix term alone: same per-position cosine to the target is not enough if the structure differs
    perm = t.flatten(2)[:, :, torch.randperm(64)].view_as(t)
    assert autoencoder.alignment(perm, t) > 0


def test_generator_adversarial_term_leaves_the_discriminator_untouched():
    torch.manual_seed(0)
    disc = autoencoder.PatchDiscriminator(width=8)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    autoencoder._frozen(disc, x).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())


def test_sd_ae_trains_resumes_and_writes_a_card(tmp_path, monkeypatch):
    """Two steps of the real command on a small train set: the folder loads with plain diffusers, latents are
    normalised per channel (folded), a second call resumes (no new steps) and the monitor has its row."""
    from diffusers import AutoencoderKL

    monkeypatch.setattr(autoencoder.shapes, "TEST_SPLIT_SIZE", 64)
    out, run = tmp_path / "vae", tmp_path / "run"
    m = autoencoder.train_sd_ae(steps=2, batch=4, n_train=64, out=out, run_dir=run, d_start=1, monitor_every=2,
                                channels=4)
    assert m["steps"] == 2 and m["latent"] == "8x8x4" and 0 <= m["recon_shape_acc"] <= 1
    assert (out / "README.md").exists() and len((out / "monitor.jsonl").read_text().splitlines()) == 1
    vae = AutoencoderKL.from_pretrained(str(out))
    assert vae.config.latent_channels == 4 and vae.config.scaling_factor == 1.0
    again = autoencoder.train_sd_ae(steps=2, batch=4, n_train=64, out=out, run_dir=run, d_start=1, channels=4)
    assert again["steps"] == 2


def test_control_monitor_reads_edges_and_attributes_of_controlnet_samples(tmp_path):
    from genmodels.families.diffusion.common import load_part
    from genmodels.families.diffusion.control import build_controlnet, control_monitor

    folder = tiny_sd.build_random_pipeline(tmp_path / "pipe")
    vae, te, tok, unet = (load_part(p, folder) for p in ("vae", "text_encoder", "tokenizer", "unet"))
    r = control_monitor(unet, build_controlnet(unet, small=True).eval(), vae, te, tok, n=3, steps=2)
    assert set(r) == {"edge_f1", "shape", "colour", "fill", "background"}
    assert all(0.0 <= v <= 1.0 for v in r.values())
