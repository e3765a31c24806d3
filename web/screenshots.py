"""Take the README's screenshots from a real demo: ``python -m web.screenshots [OUT_DIR]``.

Starts ``phonelocker demo`` in a temporary folder, taps a few cards (some
phones in, one refused tap, one bay open), logs in as the office and saves
``today.png``, ``today-phone.png``, ``emulator.png`` and ``screen.png`` in ``OUT_DIR``
(default ``docs/screenshots``). Needs Playwright and /usr/bin/chromium; run
it by hand after changing how the pages look, not in the test suite.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from kiosk.devtools.demo import DEMO_PUPILS
from web.demoprocess import DemoProcess

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
CARDS = {name: uid for name, _year, _class, uid in DEMO_PUPILS}


def take(out_dir: Path) -> list[Path]:
    """Run the demo, set the scene and write the screenshots; return their paths."""
    from playwright.sync_api import expect, sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="phonelocker-shots-") as folder, \
            DemoProcess(Path(folder)) as demo, sync_playwright() as playwright:
        for name in ("Amara Okafor", "Chloé Dubois", "Grace Mensah", "Ella Nowak"):
            demo.tap(CARDS[name])
        demo.tap(CARDS["Harry Lee"])  # Year 5 without approval: refused
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(base_url=demo.url, viewport={"width": 1280, "height": 860},
                                device_scale_factor=1)
        page.goto("/login")
        page.fill("input[name=username]", "office")
        page.fill("input[name=password]", demo.passwords["office"])
        page.click("button[type=submit]")
        expect(page.locator("tr", has_text="Ella Nowak")).to_contain_text("in locker since")
        saved = [out_dir / name for name in
                 ("today.png", "today-phone.png", "emulator.png", "screen.png")]
        page.screenshot(path=saved[0], full_page=True)

        phone = browser.new_page(base_url=demo.url, viewport={"width": 390, "height": 844},
                                 device_scale_factor=2)
        phone.context.add_cookies(page.context.cookies())
        phone.goto("/")
        phone.screenshot(path=saved[1])

        page.goto("/emulator")
        page.click("button:has-text('Dev Patel')")
        locker = page.locator('[data-section="locker"]')
        expect(locker.locator(".bay-door")).to_contain_text("unlocked", timeout=5000)
        page.evaluate("document.getElementById('toast').remove()")
        page.mouse.move(0, 0)
        page.screenshot(path=saved[2], full_page=True)

        screen = browser.new_page(base_url=demo.url, viewport={"width": 1024, "height": 600})
        screen.goto("/screen")  # from this machine: no login, as on the Pi's own display
        demo.tap(CARDS["Harry Lee"])
        expect(screen.locator(".screen-panel")).to_have_attribute("data-tone", "refused")
        screen.screenshot(path=saved[3])
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="docs/screenshots", type=Path)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for path in take(arguments.out_dir):
        log.info("saved %s", path)


if __name__ == "__main__":
    main()
