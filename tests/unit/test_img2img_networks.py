"""The pix2pix / CycleGAN networks against the reference implementation's checkpoint layout.

The expected key names and shapes below are written out from the reference repository's saved generators
(``latest_net_G_A.pth`` of a resnet_9blocks CycleGAN, ``latest_net_G.pth`` of a unet_256 pix2pix) and its printed
parameter counts (11.378 M, 54.414 M, D 2.769 M); the forward passes are checked against an independent functional
re-implementation that reads the tensors by those names.
"""
import pickle

import pytest
import torch
import torch.nn.functional as F

from genmodels.families.img2img.networks import (CheckpointError, NLayerDiscriminator, ResnetGenerator,
                                                 UnetGenerator, load_reference_state_dict, read_state_dict)
from genmodels.families.img2img.service import infer_reference_generator, load_generator_file


def resnet9_reference_keys(ngf=64, in_nc=3, out_nc=3):
    """Keys and shapes of the reference resnet_9blocks generator with instance norm (no affine, no stats)."""
    k = {"model.1.weight": (ngf, in_nc, 7, 7), "model.1.bias": (ngf,),
         "model.4.weight": (2 * ngf, ngf, 3, 3), "model.4.bias": (2 * ngf,),
         "model.7.weight": (4 * ngf, 2 * ngf, 3, 3), "model.7.bias": (4 * ngf,)}
    for b in range(10, 19):
        for c in (1, 5):
            k[f"model.{b}.conv_block.{c}.weight"] = (4 * ngf, 4 * ngf, 3, 3)
            k[f"model.{b}.conv_block.{c}.bias"] = (4 * ngf,)
    k.update({"model.19.weight": (4 * ngf, 2 * ngf, 3, 3), "model.19.bias": (2 * ngf,),  # ConvTranspose: (in, out)
              "model.22.weight": (2 * ngf, ngf, 3, 3), "model.22.bias": (ngf,),
              "model.26.weight": (out_nc, ngf, 7, 7), "model.26.bias": (out_nc,)})
    return k


def test_resnet_generator_has_the_reference_keys_and_size():
    G = ResnetGenerator(3, 3, 64, norm="instance", n_blocks=9)
    got = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    assert got == resnet9_reference_keys()
    assert round(sum(p.numel() for p in G.parameters()) / 1e6, 3) == 11.378


def test_unet_and_patchgan_have_the_reference_keys_and_sizes():
    G = UnetGenerator(3, 3, 8, 64, norm="batch")
    sd = G.state_dict()
    assert tuple(sd["model.model.0.weight"].shape) == (64, 3, 4, 4)  # outermost down conv, no bias with batch norm
    assert "model.model.0.bias" not in sd
    assert tuple(sd["model.model.1.model.1.weight"].shape) == (128, 64, 4, 4)
    assert tuple(sd["model.model.1.model.2.running_mean"].shape) == (128,)
    assert tuple(sd["model.model.3.weight"].shape) == (128, 3, 4, 4) and "model.model.3.bias" in sd
    innermost = "model.model.1" + ".model.3" * 6
    assert tuple(sd[innermost + ".model.1.weight"].shape) == (512, 512, 4, 4)
    assert tuple(sd[innermost + ".model.3.weight"].shape) == (512, 512, 4, 4)
    assert round(sum(p.numel() for p in G.parameters()) / 1e6, 3) == 54.414
    D = NLayerDiscriminator(6, 64, 3, norm="batch")
    assert round(sum(p.numel() for p in D.parameters()) / 1e6, 3) == 2.769
    assert [k for k in D.state_dict() if k.endswith("weight")] == [
        "model.0.weight", "model.2.weight", "model.3.weight", "model.5.weight", "model.6.weight", "model.8.weight",
        "model.9.weight", "model.11.weight"]


# ------------------------------------------------------------------ independent functional forwards (by key name)
def _inorm(x):
    return F.instance_norm(x, eps=1e-5)


def resnet_forward(sd, x, n_blocks):
    h = F.conv2d(F.pad(x, (3,) * 4, mode="reflect"), sd["model.1.weight"], sd["model.1.bias"])
    h = F.relu(_inorm(h))
    for i in (4, 7):
        h = F.relu(_inorm(F.conv2d(h, sd[f"model.{i}.weight"], sd[f"model.{i}.bias"], stride=2, padding=1)))
    for b in range(10, 10 + n_blocks):
        p = f"model.{b}.conv_block."
        r = F.relu(_inorm(F.conv2d(F.pad(h, (1,) * 4, mode="reflect"), sd[p + "1.weight"], sd[p + "1.bias"])))
        r = _inorm(F.conv2d(F.pad(r, (1,) * 4, mode="reflect"), sd[p + "5.weight"], sd[p + "5.bias"]))
        h = h + r
    i = 10 + n_blocks
    for j in (i, i + 3):
        h = F.relu(_inorm(F.conv_transpose2d(h, sd[f"model.{j}.weight"], sd[f"model.{j}.bias"], stride=2, padding=1,
                                             output_padding=1)))
    j = i + 7
    return torch.tanh(F.conv2d(F.pad(h, (3,) * 4, mode="reflect"), sd[f"model.{j}.weight"], sd[f"model.{j}.bias"]))


def unet_forward(sd, x, num_downs):
    """Batch norm in eval mode (running statistics), as the reference runs at test time without --eval off."""
    def bn(h, p):
        return F.batch_norm(h, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"], sd[p + ".bias"],
                            False, 0.0, 1e-5)

    def level(h, prefix, depth):
        inner = depth == num_downs - 1
        d = F.conv2d(F.leaky_relu(h, 0.2), sd[prefix + ".model.1.weight"], stride=2, padding=1)
        if inner:
            u = F.conv_transpose2d(F.relu(d), sd[prefix + ".model.3.weight"], stride=2, padding=1)
            return torch.cat([h, bn(u, prefix + ".model.4")], 1)
        d = bn(d, prefix + ".model.2")
        s = level(d, prefix + ".model.3", depth + 1)
        u = F.conv_transpose2d(F.relu(s), sd[prefix + ".model.5.weight"], stride=2, padding=1)
        return torch.cat([h, bn(u, prefix + ".model.6")], 1)

    d = F.conv2d(x, sd["model.model.0.weight"], stride=2, padding=1)
    s = level(d, "model.model.1", 1)
    return torch.tanh(F.conv_transpose2d(F.relu(s), sd["model.model.3.weight"], sd["model.model.3.bias"], stride=2,
                                         padding=1))


def _randomise(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in net.state_dict().items():
        if k.endswith("running_var"):
            sd[k] = torch.rand(v.shape, generator=g) + 0.5
        elif v.is_floating_point():
            sd[k] = torch.randn(v.shape, generator=g) * 0.05
        else:
            sd[k] = v
    return sd


def test_resnet_forward_matches_the_functional_reference(tmp_path):
    ref = ResnetGenerator(3, 3, 8, norm="instance", n_blocks=3)
    sd = _randomise(ref)
    torch.save(sd, tmp_path / "latest_net_G_A.pth")  # how the reference saves: a plain state_dict
    G = load_generator_file(tmp_path / "latest_net_G_A.pth")
    assert isinstance(G, ResnetGenerator) and len([m for m in G.model if type(m).__name__ == "ResnetBlock"]) == 3
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(G(x), resnet_forward(sd, x, 3), atol=1e-5, rtol=0)


def test_unet_forward_matches_the_functional_reference(tmp_path):
    from safetensors.torch import save_file

    ref = UnetGenerator(3, 3, 6, 4, norm="batch")
    sd = _randomise(ref, 1)
    save_file(sd, str(tmp_path / "g.safetensors"))
    G = load_generator_file(tmp_path / "g.safetensors")
    assert isinstance(G, UnetGenerator) and G.num_downs == 6
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(G(x), unet_forward(sd, x, 6), atol=1e-5, rtol=0)


def test_old_saves_with_instance_norm_statistics_and_dataparallel_prefix_load():
    G = ResnetGenerator(3, 3, 8, n_blocks=2)
    sd = {f"module.{k}": v for k, v in G.state_dict().items()}
    sd["module.model.2.running_mean"] = torch.zeros(8)  # PyTorch < 0.4 saves carried these
    sd["module.model.2.running_var"] = torch.ones(8)
    load_reference_state_dict(ResnetGenerator(3, 3, 8, n_blocks=2), sd)


def test_mismatched_checkpoint_names_the_keys():
    sd = ResnetGenerator(3, 3, 8, n_blocks=2).state_dict()
    sd.pop("model.1.bias")
    sd["model.99.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as e:
        load_reference_state_dict(ResnetGenerator(3, 3, 8, n_blocks=2), sd)
    assert "missing keys: model.1.bias" in str(e.value) and "unexpected keys: model.99.weight" in str(e.value)
    sd = ResnetGenerator(3, 3, 16, n_blocks=2).state_dict()
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_reference_state_dict(ResnetGenerator(3, 3, 8, n_blocks=2), sd)


class Payload:
    def __reduce__(self):
        return (print, ("this would have run",))


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    p = tmp_path / "latest_net_G.pth"
    with open(p, "wb") as f:
        pickle.dump({"model.1.weight": Payload()}, f)
    with pytest.raises(CheckpointError, match="refused"):
        read_state_dict(p)
    (tmp_path / "zero.pth").write_bytes(b"")
    with pytest.raises(CheckpointError):
        read_state_dict(tmp_path / "zero.pth")
    (tmp_path / "x.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError):
        read_state_dict(tmp_path / "x.safetensors")


@pytest.mark.parametrize("net", [ResnetGenerator(3, 3, 8, norm="batch", n_blocks=4, use_dropout=True),
                                 ResnetGenerator(1, 3, 8, norm="instance", n_blocks=6),
                                 UnetGenerator(12, 3, 5, 16), UnetGenerator(3, 3, 7, 8, norm="instance")])
def test_the_architecture_is_read_from_the_keys(net):
    sd = net.state_dict()
    built = infer_reference_generator(sd)
    assert type(built) is type(net) and built.state_dict().keys() == sd.keys()
    assert all(built.state_dict()[k].shape == v.shape for k, v in sd.items())


def test_a_reference_cyclegan_pair_and_a_3_channel_pix2pix_load_in_the_tab(tmp_path):
    import numpy as np

    from genmodels.families.img2img import service, tab

    ga, gb = ResnetGenerator(3, 3, 4, n_blocks=1), ResnetGenerator(3, 3, 4, n_blocks=1)
    torch.save(_randomise(ga, 3), tmp_path / "latest_net_G_A.pth")
    torch.save(_randomise(gb, 4), tmp_path / "latest_net_G_B.pth")
    pair = service.load_cyclegan(str(tmp_path / "latest_net_G_A.pth"))
    assert torch.equal(pair.G_AB.model[1].weight, _randomise(ga, 3)["model.1.weight"])
    assert torch.equal(pair.G_BA.model[1].weight, _randomise(gb, 4)["model.1.weight"])
    x, y, rec, twin, note = tab.img2img_cyclegan(str(tmp_path / "latest_net_G_B.pth"), "Test item", 2, None, "A→B")
    assert twin is None and x.shape == y.shape == (256, 256, 3)  # a foreign model runs at 256², no twin there
    torch.save(_randomise(UnetGenerator(3, 3, 5, 4), 5), tmp_path / "p2p.pth")
    edges, gallery, slider, note = tab.img2img_pix2pix(str(tmp_path / "p2p.pth"), "Test item", 2, None, None, "any",
                                                       "any", "any", 1, 0)
    assert len(gallery) == 1 and gallery[0][0].shape == (32, 32, 3) and slider is None and "3-channel" in note
    assert isinstance(edges, np.ndarray)


def test_a_foreign_pix2pix_is_fed_edge_drawings(tmp_path):
    """A reference-layout 3-channel pix2pix (an edges2* model): a test item goes in as its exact edge map (black
    lines on white, rendered at the model's size), an upload as its Canny edges — or as it is when asked."""
    import numpy as np
    from PIL import Image

    from genmodels.data import shapes
    from genmodels.families.img2img import service, tab
    from genmodels.scoring.edges import detect_edges

    torch.save(_randomise(UnetGenerator(3, 3, 6, 4), 6), tmp_path / "edges2x.pth")  # 2**6 = 64 px
    source = str((tmp_path / "edges2x.pth").resolve())  # the key model_source() hands to the cached loader
    fed = []
    hook = service.load_pix2pix(source).register_forward_pre_hook(lambda m, args: fed.append(args[0].clone()))
    try:
        shown, gallery, slider, note = tab.img2img_pix2pix(source, "Test item", 7, None, None, "any", "any", "any",
                                                           1, 0)
        x = ((fed[-1][0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
        edges = shapes.item("test", 7, 64, twin=False).edges
        assert x.shape == (64, 64, 3) and set(np.unique(x)) == {0, 255}
        assert np.array_equal(x, np.where(edges[..., None], 0, 255).repeat(3, 2))  # the edges, not the colour image
        assert gallery[0][0].shape == (64, 64, 3) and slider is None
        assert "fed as test item 7's exact edge map, black lines on white" in note

        photo = np.zeros((80, 120, 3), np.uint8)
        photo[20:60, 40:90] = (200, 40, 40)
        upload = Image.fromarray(photo)
        note = tab.img2img_pix2pix(source, "Upload", 0, None, upload, "any", "any", "any", 1, 0)[3]
        canny = detect_edges(service.square(upload, 64))
        assert canny.any() and np.array_equal(fed[-1][0, 0] < 0, canny) and "Canny edges" in note
        note = tab.img2img_pix2pix(source, "Upload", 0, None, upload, "any", "any", "any", 1, 0, "As is")[3]
        x = ((fed[-1][0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
        assert np.array_equal(x, service.square(upload, 64)) and "as it is" in note
    finally:
        hook.remove()
