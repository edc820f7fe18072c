"""StyleGAN2 (genmodels.families.gan.stylegan) and the rosinality/stylegan2-pytorch weight adapter."""
from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest
import torch

from genmodels.families.gan import losses
from genmodels.families.gan.rosinality import config_from_args, infer_config, load_rosinality_g_ema
from genmodels.families.gan.stylegan import Discriminator, Generator, upfirdn2d

KEYS_JSON = Path(__file__).parent / "data" / "rosinality_g_ema_keys_size32_sd512_nmlp8_cm2.json"
SMALL = dict(size=16, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16})


def small_g(**kw) -> Generator:
    torch.manual_seed(0)
    g = Generator(**{**SMALL, **kw}).eval()
    with torch.no_grad():  # non-zero noise strengths so that noise_mode matters
        for name, p in g.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    return g


def zs(n=3, dim=32, seed=1):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def test_shapes():
    g = small_g()
    assert g.num_ws == 6 and g.n_latent == 6
    assert g.mapping(zs()).shape == (3, 32)
    assert g(zs()).shape == (3, 3, 16, 16)
    assert g.synthesis(torch.randn(2, g.num_ws, 32)).shape == (2, 3, 16, 16)
    g32 = Generator(size=32, style_dim=32, n_mlp=2, channels=[32, 32, 16, 16]).eval()
    assert g32.num_ws == 8 and g32(zs(2)).shape == (2, 3, 32, 32)
    assert Discriminator(size=32, channels=[32, 32, 16, 16])(torch.randn(5, 3, 32, 32)).shape == (5, 1)
    with pytest.raises(ValueError, match="noise_mode"):
        g(zs(), noise_mode="bogus")
    with pytest.raises(ValueError, match="ws must be"):
        g.synthesis(torch.randn(2, 3, 32))


@torch.no_grad()
def test_determinism_and_hub_round_trip(tmp_path):
    g, z = small_g(), zs()
    a = g(z)
    assert torch.equal(a, g(z))
    r1 = g(z, noise_mode="random", generator=torch.Generator().manual_seed(5))
    r2 = g(z, noise_mode="random", generator=torch.Generator().manual_seed(5))
    assert torch.equal(r1, r2) and not torch.equal(r1, a)
    assert not torch.equal(g(z, noise_mode="none"), a)
    g.update_w_avg(g.mapping(zs(64, seed=2)))
    g.save_pretrained(tmp_path / "g")
    g2 = Generator.from_pretrained(tmp_path / "g")
    assert g2.channels == g.channels and torch.equal(g2.w_avg, g.w_avg)
    assert torch.equal(g2(z), a) and torch.equal(g2(z, psi=0.5), g(z, psi=0.5))


@torch.no_grad()
def test_truncation():
    g = small_g()
    g.update_w_avg(g.mapping(zs(64, seed=2)), beta=0.0)
    assert g.w_avg.abs().sum() > 0
    z1, z2 = zs(seed=1), zs(seed=2)
    mean_img = g(z1, psi=0.0)
    assert torch.equal(mean_img, g(z2, psi=0.0))
    assert torch.equal(mean_img, g.synthesis(g.w_avg[None, None].expand(3, g.num_ws, -1)))
    assert torch.equal(mean_img[0], mean_img[1])
    assert torch.equal(g(z1, psi=1.0), g(z1)) and torch.equal(g(z1, psi=1.0), g.synthesis(g.mapping(z1)))
    half = g(z1, psi=0.5)
    assert not torch.equal(half, g(z1)) and not torch.equal(half, mean_img)


@torch.no_grad()
def test_style_mixing():
    g, z1, z2 = small_g(), zs(seed=1), zs(seed=2)
    assert torch.equal(g(z1, mix_z=z2, mix_layer=0), g(z2))
    assert torch.equal(g(z1, mix_z=z2, mix_layer=g.num_ws), g(z1))
    mixed = g(z1, mix_z=z2, mix_layer=3)
    assert not torch.equal(mixed, g(z1)) and not torch.equal(mixed, g(z2))
    w1, w2 = g.mapping(z1), g.mapping(z2)
    ws = torch.cat([w1[:, None].expand(-1, 3, -1), w2[:, None].expand(-1, g.num_ws - 3, -1)], 1)
    assert torch.equal(mixed, g.synthesis(ws))
    assert g(z1, mix_z=z2).shape == (3, 3, 16, 16)  # random crossover point, as in training
    with pytest.raises(ValueError):
        g(z1, mix_layer=2)


@torch.no_grad()
def test_class_conditioning():
    g = small_g(n_classes=4)
    assert g.style[1].weight.shape == (32, 64) and g.class_embed.weight.shape == (4, 32)
    z = zs()
    a, b = g(z, c=torch.zeros(3, dtype=torch.long)), g(z, c=torch.ones(3, dtype=torch.long))
    assert a.shape == (3, 3, 16, 16) and not torch.equal(a, b)
    assert torch.equal(a, g(z, c=0))  # a scalar label is broadcast
    with pytest.raises(ValueError, match="n_classes"):
        g(z)
    with pytest.raises(ValueError, match="labels"):
        g(z, c=torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="n_classes"):
        small_g()(z, c=0)
    c = torch.tensor([2, 0, 2])
    m = g.mean_w(c)  # class-conditional truncation centre: deterministic, per label
    assert m.shape == (3, 32) and torch.equal(m[0], m[2]) and not torch.equal(m[0], m[1])
    assert torch.equal(m, g.mean_w(c)) and torch.equal(m[1], g.mean_w(torch.tensor([0]))[0])
    assert torch.equal(g(z, c=c, psi=0.0), g.synthesis(m))
    assert Generator(size=16, style_dim=32, n_mlp=2, channels=[32, 32, 16]).style[1].weight.shape == (32, 32)


def test_discriminator_and_losses():
    torch.manual_seed(0)
    d = Discriminator(size=16, channels=[32, 32, 16], n_classes=3)
    x = torch.randn(6, 3, 16, 16).requires_grad_(True)
    c = torch.tensor([0, 1, 2, 0, 1, 2])
    real = d(x, c)
    assert real.shape == (6, 1)
    assert not torch.equal(real, d(x, (c + 1) % 3))  # projection conditioning
    with pytest.raises(ValueError):
        d(x)
    r1 = losses.r1_penalty(x, real)
    assert r1.ndim == 0 and r1.item() >= 0
    r1.backward()
    assert all(p.grad is not None for p in d.convs.parameters())
    assert d(torch.randn(5, 3, 16, 16), c[:5]).shape == (5, 1)  # stddev group falls back to a divisor of 5
    fake = d(torch.randn(6, 3, 16, 16), c)
    assert losses.d_logistic_loss(real, fake).item() > 0 and losses.g_nonsaturating_loss(fake).item() > 0
    g = small_g()
    ws = g.mapping(zs())[:, None].repeat(1, g.num_ws, 1).requires_grad_(True)
    pen, mean, lengths = losses.path_length_penalty(g.synthesis(ws), ws, 0.0)
    assert pen.item() >= 0 and mean > 0 and lengths.shape == (3,)


def test_upfirdn2d_matches_definition():
    x, k = torch.randn(1, 2, 5, 5), torch.rand(3, 3)
    up = upfirdn2d(x, k, up=2, pad=(1, 1))
    zero_ins = torch.zeros(1, 2, 10, 10)
    zero_ins[..., ::2, ::2] = x
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(zero_ins, [1, 1, 1, 1]).reshape(2, 1, 12, 12),
                                     k.flip([0, 1])[None, None]).reshape(1, 2, 10, 10)
    assert torch.allclose(up, ref, atol=1e-6)
    assert upfirdn2d(x, k, down=2, pad=(1, 1)).shape == (1, 2, 3, 3)


# --- rosinality/stylegan2-pytorch adapter ---------------------------------------------------------------------

def rosinality_keys() -> dict[str, list[int]]:
    return json.loads(KEYS_JSON.read_text())["keys"]


def test_default_architecture_has_rosinality_keys():
    g = Generator(size=32, style_dim=512, n_mlp=8, channel_multiplier=2)
    ours = {k: list(v.shape) for k, v in g.state_dict().items()}
    assert ours.pop("w_avg") == [512]  # our one extra buffer
    assert list(ours.items()) == list(rosinality_keys().items())


def test_load_rosinality_checkpoint(tmp_path):
    gen = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(*shape, generator=gen) * 0.1 for k, shape in rosinality_keys().items()}
    torch.save({"g_ema": sd}, tmp_path / "ckpt.pt")
    g = load_rosinality_g_ema(tmp_path / "ckpt.pt")
    assert (g.size, g.style_dim, g.n_classes, len(g.style) - 1) == (32, 512, 0, 8)
    assert g.channels == {4: 512, 8: 512, 16: 512, 32: 512}
    assert torch.equal(g.convs[3].conv.weight, sd["convs.3.conv.weight"])
    assert torch.equal(g.noises.noise_6, sd["noises.noise_6"])
    assert g.w_avg.abs().sum() > 0  # filled by mean_latent, rosinality does not store it
    with torch.no_grad():
        out = g(torch.randn(1, 512), psi=0.7)
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()


def small_rosinality_sd() -> dict[str, torch.Tensor]:
    sd = small_g().state_dict()
    del sd["w_avg"]
    return sd


def test_adapter_small_bare_state_dict_latent_avg_and_safetensors(tmp_path):
    sd = small_rosinality_sd()
    cfg = infer_config(sd)
    assert cfg == {"size": 16, "style_dim": 32, "n_mlp": 2, "channels": {4: 32, 8: 32, 16: 16}}
    torch.save(sd, tmp_path / "bare.pt")
    ref, z = small_g(), zs()
    with torch.no_grad():
        assert torch.equal(load_rosinality_g_ema(tmp_path / "bare.pt")(z), ref(z))
        torch.save({"g_ema": sd, "latent_avg": torch.full((32,), 0.25), "ada_aug_p": 0.1}, tmp_path / "conv.pt")
        assert torch.equal(load_rosinality_g_ema(tmp_path / "conv.pt").w_avg, torch.full((32,), 0.25))
        ref.save_pretrained(tmp_path / "hub")  # our own safetensors (with w_avg) loads through the adapter too
        g = load_rosinality_g_ema(tmp_path / "hub" / "model.safetensors")
        assert torch.equal(g(z, psi=0.5), ref(z, psi=0.5))


def test_adapter_refuses_pickled_objects_and_bad_files(tmp_path):
    sd = small_rosinality_sd()
    torch.save({"g_ema": sd, "args": argparse.Namespace(size=16), "obj": textwrap.TextWrapper()}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="non-tensor objects / was saved as a pickle with code") as e:
        load_rosinality_g_ema(tmp_path / "x.pt")  # argparse.Namespace is let through, no other class
    assert "Unsupported global: GLOBAL textwrap.TextWrapper" in str(e.value)
    torch.save({"g_ema": {**sd, "style.1.weight": argparse.Namespace(size=16)}}, tmp_path / "inside.pt")
    with pytest.raises(ValueError, match="only tensor state_dicts are accepted"):
        load_rosinality_g_ema(tmp_path / "inside.pt")
    torch.save({"g_ema": {**sd, "style.1.weight": 1.0}}, tmp_path / "nontensor.pt")
    with pytest.raises(ValueError, match="only tensor state_dicts are accepted"):
        load_rosinality_g_ema(tmp_path / "nontensor.pt")
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_rosinality_g_ema(missing)
    bad = {k: v for k, v in sd.items() if k != "conv1.noise.weight"}
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"missing keys \['conv1.noise.weight'\].*unexpected keys \['extra.weight'\]"):
        load_rosinality_g_ema(tmp_path / "bad.pt")
    torch.save(sd, tmp_path / "ok.pt")
    with pytest.raises(ValueError, match="shape mismatches"):
        load_rosinality_g_ema(tmp_path / "ok.pt", n_classes=2)  # first MLP layer would be 64 wide


def save_training_checkpoint(path: Path, g_ema: Generator, **args) -> None:
    """What rosinality's train.py saves, with tiny networks: {"g", "d", "g_ema", "g_optim", "d_optim", "args",
    "ada_aug_p"}; ``args`` an argparse.Namespace of its options (the tiny channels follow no channel-multiplier
    table, so ``channel_multiplier`` is given only when a test asks for it)."""
    torch.manual_seed(1)
    g, d = Generator(**SMALL), Discriminator(size=16, channels=SMALL["channels"])
    optims = {}
    for name, net in (("g_optim", g), ("d_optim", d)):
        opt = torch.optim.Adam(net.parameters(), lr=0.002, betas=(0.0, 0.99))
        for p in net.parameters():
            p.grad = torch.randn_like(p) * 1e-3
        opt.step()
        optims[name] = opt.state_dict()
    options = dict(path="lmdb", iter=800000, batch=16, n_sample=64, r1=10.0, mixing=0.9, lr=0.002, ckpt=None,
                   augment=False, ada_target=0.6, distributed=False, **args)
    torch.save({"g": g.state_dict(), "d": d.state_dict(), "g_ema": {k: v for k, v in g_ema.state_dict().items()
                                                                     if k != "w_avg"},
                **optims, "args": argparse.Namespace(**options), "ada_aug_p": 0.05}, path)


def test_rosinality_training_checkpoint_loads_and_samples(tmp_path):
    from genmodels.families.gan import service

    ref = small_g()
    save_training_checkpoint(tmp_path / "040000.pt", ref, size=16, latent=32, n_mlp=2)
    g = load_rosinality_g_ema(tmp_path / "040000.pt")
    assert (g.size, g.style_dim, len(g.style) - 1) == (16, 32, 2)
    with torch.no_grad():
        assert torch.equal(g(zs()), ref(zs()))  # g_ema, not the raw g
    G = service.load_generator("stylegan", str(tmp_path / "040000.pt"))
    images, labels = service.sample("stylegan", G, seed=3, n=2)
    assert images.shape == (2, 16, 16, 3) and images.dtype.name == "uint8" and labels is None
    assert (images == service.sample("stylegan", g, seed=3, n=2)[0]).all()


@pytest.mark.parametrize("args, says", [
    (dict(size=32, latent=32, n_mlp=2), "args.size is 32, the tensors say 16"),
    (dict(size=16, latent=512, n_mlp=8), "args.latent is 512, the tensors say 32; args.n_mlp is 8, the tensors say 2"),
    (dict(size=16, latent=32, n_mlp=2, channel_multiplier=2), "args.channel_multiplier is 2, which gives other"),
])
def test_rosinality_args_that_disagree_with_the_tensors_are_refused(tmp_path, args, says):
    save_training_checkpoint(tmp_path / "bad.pt", small_g(), **args)
    with pytest.raises(ValueError) as e:
        load_rosinality_g_ema(tmp_path / "bad.pt")
    msg = str(e.value)
    assert msg.startswith("bad.pt was not loaded: its training args disagree with its g_ema tensors (") and says in msg
    assert "\n" not in msg and str(tmp_path) not in msg


def test_channel_multiplier_comes_from_the_args():
    """Up to 32 px every multiplier gives the same table (512 channels), so only args can say which it was."""
    sd = {k: torch.empty(shape, device="meta") for k, shape in rosinality_keys().items()}
    assert infer_config(sd)["channel_multiplier"] == 2
    cfg = config_from_args(sd, {"size": 32, "latent": 512, "n_mlp": 8, "channel_multiplier": 1, "lr": 0.002})
    assert cfg == {"size": 32, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 1, "channels": None}
    assert config_from_args(sd, {}) == infer_config(sd)
