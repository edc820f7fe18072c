"""Helpers the e2e test modules share (imported by name: pytest puts this folder on sys.path)."""


def open_tab(page, app_url: str, key: str, title: str, sub: str | None = None) -> None:
    """Open ``?tab=key``, wait until the tab titled ``title`` is the selected one, then click sub-tab ``sub``."""
    page.goto(app_url + f"?tab={key}")
    page.get_by_role("tab", name=title, exact=True).wait_for()
    page.wait_for_function(
        f"document.querySelector('[role=tab][aria-selected=true]')?.innerText.trim() === {title!r}")
    if sub:
        page.get_by_role("tab", name=sub, exact=True).click()


def click_points(page, prefix: str, handle: tuple[int, int], target: tuple[int, int], side: int = 32) -> tuple:
    """On a drag sub-tab (elem ids ``{prefix}-clear``, ``-canvas``, ``-points``): clear the points, click the handle
    and then the target on the enlarged side×side canvas, wait for each click to reach the points box; returns the
    ((x, y), (x, y)) pair the box then holds."""
    box_js = f"document.querySelector('#{prefix}-points textarea').value"
    ready = (f"(() => {{ const i = document.querySelector('#{prefix}-canvas img'); return i && i.complete && "
             "i.naturalWidth > 0; })()")

    def click(x, y):
        b = page.locator(f"#{prefix}-canvas img").bounding_box()
        page.mouse.click(b["x"] + (x + 0.5) / side * b["width"], b["y"] + (y + 0.5) / side * b["height"])
    page.locator(f"#{prefix}-clear").click()
    page.wait_for_function(f"{box_js} === ''", timeout=60_000)
    page.wait_for_function(ready, timeout=60_000)
    click(*handle)
    page.wait_for_function(f"{box_js}.endsWith('->')", timeout=60_000)
    page.wait_for_function(ready, timeout=60_000)
    click(*target)
    page.wait_for_function(f"/^\\d+,\\d+ -> \\d+,\\d+$/.test({box_js})", timeout=60_000)
    text = page.locator(f"#{prefix}-points textarea").input_value()
    return tuple(tuple(map(int, p.split(","))) for p in text.split(" -> "))
