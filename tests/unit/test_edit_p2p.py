"""Edit family, Prompt-to-Prompt (genmodels/families/edit/attention.py, p2p.py) on a random tiny pipeline: the
attention processor computes what diffusers' default does and is removed afterwards; an identity edit reproduces the
plain sample; direct inversion keeps the source row on its inverted path; the stored maps are attention
distributions; prompts that cannot be aligned are refused with the reason; seeds reproduce."""
import numpy as np
import pytest
import torch

from genmodels.families.edit import common as C
from genmodels.families.edit import p2p as P
from genmodels.families.edit.attention import Controller, EditAttnProcessor, controlled
from genmodels.families.edit.inversion import denoise, invert
from genmodels.validate import InputError

SRC = "a small red striped star on a light background"
TGT = "a small blue striped star on a light background"


@pytest.fixture(scope="module")
def tiny(random_sd_folder):
    return C.edit_pipeline(str(random_sd_folder))


def test_the_edit_unet_is_a_frozen_copy_of_the_shared_one(random_sd_folder, tiny):
    from genmodels.families.diffusion import service as sd

    shared = sd.load_pipeline(str(random_sd_folder))
    assert tiny.unet is not shared.unet and tiny.vae is shared.vae and tiny.text_encoder is shared.text_encoder
    a, b = tiny.unet.state_dict(), shared.unet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(p.requires_grad for p in tiny.unet.parameters())
    with controlled(tiny.unet, Controller()):
        assert all(isinstance(p, EditAttnProcessor) for p in tiny.unet.attn_processors.values())
        assert not any(isinstance(p, EditAttnProcessor) for p in shared.unet.attn_processors.values())


def test_the_processor_computes_the_default_attention_and_is_removed_afterwards(tiny):
    before = {k: type(v) for k, v in tiny.unet.attn_processors.items()}
    z, cond = torch.randn(2, 4, 16, 16), C.encode_text(tiny, [SRC, TGT])
    with torch.no_grad():
        ref = tiny.unet(z, 500, encoder_hidden_states=cond).sample
        with controlled(tiny.unet, Controller()):
            got = tiny.unet(z, 500, encoder_hidden_states=cond).sample
        with pytest.raises(RuntimeError), controlled(tiny.unet, Controller()):
            raise RuntimeError("an edit that fails")
    assert torch.allclose(got, ref, atol=1e-5)
    assert {k: type(v) for k, v in tiny.unet.attn_processors.items()} == before


@pytest.mark.parametrize("cfg", [1.0, 3.0])
def test_an_identity_edit_reproduces_the_plain_sample(tiny, cfg):
    z = C.initial_noise(tiny, 5)
    plain = denoise(tiny, z, C.encode_text(tiny, [SRC]), C.encode_text(tiny, [""]), 4, cfg)
    swap = P.p2p(tiny, SRC, SRC, z, 4, cfg)  # word swap of nothing: every map replaced by an identical one
    ones = P.p2p(tiny, SRC, SRC, z, 4, cfg, reweight=P.equalizer(16, [3], 1.0))  # re-weighting by 1
    for res in (swap, ones):
        assert torch.allclose(res["latents"][1:], plain, atol=1e-4)
        assert torch.allclose(res["latents"][:1], plain, atol=1e-4)


def test_word_swap_keeps_the_source_and_changes_the_target(tiny):
    z = C.initial_noise(tiny, 5)
    res = P.p2p(tiny, SRC, TGT, z, 4, 3.0)
    plain_src = denoise(tiny, z, C.encode_text(tiny, [SRC]), C.encode_text(tiny, [""]), 4, 3.0)
    assert torch.allclose(res["latents"][:1], plain_src, atol=1e-4)  # the source row is never edited
    assert (res["latents"][1] - res["latents"][0]).abs().max() > 1e-3


def test_stored_maps_are_attention_distributions(tiny):
    res = P.p2p(tiny, SRC, TGT, C.initial_noise(tiny, 0), 3, 3.0)
    maps = res["maps"]
    assert maps.shape == (2, 16, 16, 16)  # rows, tokens, latent side (16 for this f = 2 test pipeline)
    assert np.allclose(maps.sum(1), 1.0, atol=1e-4)
    pics = P.token_maps(tiny.tokenizer, SRC, maps[0], res["source"])
    assert [t for _, t in pics] == SRC.split() and pics[0][0].shape == (32, 32, 3)


@pytest.mark.parametrize("first", [0, 2])
def test_direct_inversion_keeps_the_source_row_on_its_inverted_path(tiny, first):
    item = C.test_item(2)
    cond = C.encode_text(tiny, [item.caption])
    traj = invert(tiny, C.encode_image(tiny, item.image), cond, 4)
    res = P.p2p(tiny, item.caption, C.swap_word(item.caption, item.caption.split()[2], "cyan"), traj[4 - first], 4,
                3.0, inverted=traj, first=first)
    assert torch.allclose(res["latents"][0], traj[0][0], atol=1e-5)
    assert (res["latents"][1] - res["latents"][0]).abs().max() > 1e-3


def test_local_blend_keeps_the_target_equal_to_the_source_outside_its_mask(tiny):
    al = P.check_swap(tiny.tokenizer, SRC, TGT)
    res = P.p2p(tiny, SRC, TGT, C.initial_noise(tiny, 1), 4, 3.0, blend=(al.source_changed, al.target_changed))
    keep = ~torch.from_numpy(res["blend_mask"])
    assert keep.any()
    z = res["latents"]
    assert torch.equal(z[1][:, keep], z[0][:, keep])


def test_same_seed_same_bytes(tiny):
    a = P.p2p(tiny, SRC, TGT, C.initial_noise(tiny, 7), 3, 3.0)
    b = P.p2p(tiny, SRC, TGT, C.initial_noise(tiny, 7), 3, 3.0)
    c = P.p2p(tiny, SRC, TGT, C.initial_noise(tiny, 8), 3, 3.0)
    assert np.array_equal(a["target"], b["target"]) and not np.array_equal(a["target"], c["target"])


def test_prompts_that_cannot_be_aligned_are_refused_with_the_reason(tiny):
    tok = tiny.tokenizer
    with pytest.raises(InputError, match="identical"):
        P.check_swap(tok, SRC, " " + SRC + " ")
    with pytest.raises(InputError, match=r"cannot align.*9 tokens and the target 10.*same number of tokens"):
        P.check_swap(tok, SRC, SRC.replace("red", "dark red"))
    with pytest.raises(InputError, match="same number of tokens"):  # an unknown word splits into characters
        P.check_swap(tok, SRC, SRC.replace("red", "purple"))
    al = P.check_swap(tok, SRC, TGT)
    assert al.source_changed == al.target_changed == [3]


def test_words_and_blend_tokens(tiny):
    tok = tiny.tokenizer
    assert P.word_tokens(tok, SRC, "striped") == [4]
    assert P.word_tokens(tok, SRC, "light background") == [8, 9]
    with pytest.raises(InputError, match="not a word of the prompt"):
        P.word_tokens(tok, SRC, "circle")
    assert P.blend_tokens(tok, SRC, TGT, "", ([3], [3])) == ([5], [5])  # the shape noun by default
    assert P.blend_tokens(tok, SRC, TGT, "red blue", ([3], [3])) == ([3], [3])
    with pytest.raises(InputError, match="local-blend words"):
        P.blend_tokens(tok, SRC, TGT, "circle", ([3], [3]))
