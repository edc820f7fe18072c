"""Helpers the e2e test modules share (imported by name: pytest puts this folder on sys.path)."""


def open_tab(page, app_url: str, key: str, title: str, sub: str | None = None) -> None:
    """Open ``?tab=key``, wait until the tab titled ``title`` is the selected one, then click sub-tab ``sub``."""
    page.goto(app_url + f"?tab={key}")
    page.get_by_role("tab", name=title, exact=True).wait_for()
    page.wait_for_function(
        f"document.querySelector('[role=tab][aria-selected=true]')?.innerText.trim() === {title!r}")
    if sub:
        page.get_by_role("tab", name=sub, exact=True).click()
