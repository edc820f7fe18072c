"""A tab never opens blank (DESIGN §7): on page load, before anything is clicked, every registered tab — and every
sub-tab — shows its default example's real output. Checked in headless Chromium; one screenshot per tab."""
import pytest

from genmodels.registry import families

pytestmark = pytest.mark.e2e

# family key -> [(sub-tab label or None, [selectors that must show an image / a readout table / a plot])]
FIRST_VIEW = {
    "compare": [("Side by side", ["#compare-gallery img", "#compare-readouts table"]),
                ("Arena", ["#arena-left img", "#arena-right img"]),
                ("Leaderboard", ["#leaderboard-table table"])],
    "data": [(None, ["#data-gallery img", "#data-item-image img", "#data-item-twin img", "#data-item-edges img",
                     "#data-item-mask img"])],
    "metrics": [("Sets", ["#metrics-sets-out table"]),
                ("Pair", ["#metrics-pair-slider img", "#metrics-pair-out table"]),
                ("CLIP", ["#metrics-clip-out table"])],
    "gan": [("Sample", ["#gan-gallery img"]),
            ("Text → image (StackGAN)", ["#gan-text-stage1 img", "#gan-text-stage2 img", "#gan-text-readouts table"]),
            ("Edit an attribute", ["#gan-edit-gallery img", "#gan-edit-readouts table"]),
            ("Style mixing", ["#gan-mix-grid img"]),
            ("Interpolation", ["#gan-z-strip img", "#gan-w-strip img", "#gan-interp-gif img",
                               "#gan-interp-table table"]),
            ("Truncation trade-off", ["#gan-trunc-fid g.mark-line path"]),
            ("Drag", ["#gan-drag-canvas img", "#gan-drag-result img", "#gan-drag-readouts table"])],
    "img2img": [("pix2pix", ["#p2p-edges img", "#p2p-slider img", "#p2p-gallery img", "#p2p-readouts table"]),
                ("CycleGAN", ["#cg-in img", "#cg-out img", "#cg-rec img", "#cg-twin img", "#cg-readouts table"]),
                ("Style transfer", ["#st-out img", "#st-readouts table"])],
    "vae": [("Reconstruct", ["#vae-r-gallery img", "#vae-r-codes img", "#vae-r-readouts table", "#vae-cards table"]),
            ("Sample", ["#vae-s-gallery img", "#vae-s-readouts table"]),
            ("Text → image", ["#vae-t-gallery img", "#vae-t-readouts table"]),
            ("Latent walk", ["#vae-w-gallery img"])],
    "autoregressive": [("Sample", ["#ar-gallery img", "#ar-sample-readouts table", "#ar-cards table"]),
                       ("Complete", ["#ar-c-gallery img"]),
                       ("Likelihood", ["#ar-likelihood-readouts table"])],
    "diffusion": [("Text → image", ["#diffusion-gallery img", "#diffusion-txt2img-readouts table"]),
                  ("ControlNet", ["#diffusion-control-map img", "#diffusion-c-gallery img",
                                  "#diffusion-controlnet-readouts table"]),
                  ("Guidance lab", ["#diffusion-guided img", "#diffusion-unguided img", "#diffusion-sweep-grid img",
                                    "#diffusion-guide-readouts table"]),
                  ("Trajectory", ["#diffusion-xt img", "#diffusion-x0 img"])],
    "distill": [("Teacher vs student", ["#distill-teacher img", "#distill-student-gallery img", "#distill-ddim img",
                                        "#distill-readouts table", "#distill-cards table"]),
                ("Quality vs steps", ["#distill-curve-0 g.mark-line path"])],
    "edit": [("DDIM inversion", ["#edit-invert-slider img", "#edit-invert-readouts table"]),
             ("Blended", ["#edit-blended-slider img", "#edit-blended-readouts table"]),
             ("Prompt-to-Prompt", ["#edit-p2p-slider img", "#edit-p2p-source-maps img", "#edit-p2p-readouts table"]),
             ("Diffusion Autoencoder", ["#edit-diffae-slider img", "#edit-diffae-readouts table"]),
             ("DragDiffusion", ["#edit-drag-slider img", "#edit-drag-readouts table"])],
}


def test_every_registered_tab_is_covered():
    assert sorted(FIRST_VIEW) == sorted(f.key for f in families())


@pytest.mark.parametrize("key", list(FIRST_VIEW))
def test_tab_shows_its_default_output_on_open(app_url, page, artifacts, key):
    title = next(f.title for f in families() if f.key == key)
    page.goto(app_url + f"?tab={key}")
    page.wait_for_function(
        f"document.querySelector('[role=tab][aria-selected=true]')?.innerText.trim() === {title!r}")
    for sub, selectors in FIRST_VIEW[key]:
        if sub:
            page.get_by_role("tab", name=sub, exact=True).click()
        for sel in selectors:
            # the first open of a fresh server computes the defaults (the metrics set example takes ~20 s)
            first = page.locator(sel).first
            first.wait_for(state="attached", timeout=300_000)
            first.scroll_into_view_if_needed()  # images below the fold load lazily
            if sel.endswith(" img"):
                page.wait_for_function(
                    "s => [...document.querySelectorAll(s)].some(i => i.complete && i.naturalWidth > 0)", arg=sel,
                    timeout=30_000)
            else:
                first.wait_for(state="visible", timeout=30_000)
        page.screenshot(path=str(artifacts / f"first_view_{key}{'_' + sub.split()[0].lower() if sub else ''}.png"),
                        full_page=True)
    assert "error" not in (page.locator(".toast-body").all_inner_texts() or [""])[0].lower()


def test_open_events_are_private(client):
    names = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert not any("open" in n for n in names), list(names)
    assert "/diffusion_txt2img" in names and "/diffusion_txt2img_readouts" in names
