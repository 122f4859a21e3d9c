"""End to end: `rae app` started as a user starts it, driven by a real headless Chromium (Debian's
`chromium` through Playwright's `executable_path`): generate from the page with live previews, cancel a
long job with Esc, find the image in the gallery and replay it to the same pixels, and save a screenshot
(test-output/app.png, or $RAE_TEST_OUTPUT/app.png).

Without Chromium or Playwright the test is skipped; with CI set it fails instead (`.ci/run` installs both).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def browser_or_skip():
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright Python package (pip install playwright)")
        sync_playwright = None
    if not os.path.exists(CHROMIUM):
        missing.append("Chromium (apt-get install chromium)")
    if missing:
        message = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs them")
        pytest.skip(message)
    return sync_playwright


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`rae app --no-browser --port 0 --preset digits-demo` in a subprocess: (URL with token, output folder)."""
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    root = tmp_path_factory.mktemp("app")
    out = root / "images"
    env = {**os.environ, "RAE_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "HOME": str(root)}
    env.pop("RAE_PRESETS", None)
    cmd = [sys.executable, "-c", "from rae_apps.cli import main; main()", "app", "--no-browser", "--port", "0",
           "--preset", "digits-demo", "--output-dir", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=90)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"rae app printed no URL: {proc.stderr.read()}")
    assert first.startswith("rae app: http://127.0.0.1:") and "/?token=" in first, first
    yield first.split(" ", 2)[2].strip(), out
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    assert proc.returncode in (0, 143, -15), proc.stderr.read()  # SIGTERM: a clean stop


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_generate_preview_cancel_gallery_replay_in_chromium(app_url):
    sync_playwright = browser_or_skip()
    url, out = app_url
    shots = Path(os.environ.get("RAE_TEST_OUTPUT", ROOT / "test-output"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url)
        assert "token" not in page.url  # the token moved into an HttpOnly cookie
        page.wait_for_selector("body[data-ready='1']")

        # generate from the page: class 3, seed 11, 50 points, a preview every 5 steps
        page.click(".chip button")
        page.fill("[data-testid=class-search]", "3")
        page.press("[data-testid=class-search]", "Enter")
        page.fill("[data-testid=seeds]", "11")
        page.fill("[data-testid=preview-every]", "5")
        page.click("[data-testid=generate]")
        page.wait_for_selector("[data-testid=status].done", timeout=60_000)
        assert int(page.get_attribute("[data-testid=stage]", "data-previews")) >= 3
        first = page.get_attribute("[data-testid=job-grid] figure", "data-name")
        assert (out / first).is_file()

        # a long job, cancelled with Esc; the queue then runs the next job normally
        page.fill("[data-testid=steps]", "10000")
        page.fill("[data-testid=preview-every]", "0")
        page.click("[data-testid=generate]")
        page.locator("[data-testid=status]", has_text=re.compile(r"^step \d+/")).wait_for()
        page.keyboard.press("Escape")
        page.wait_for_selector("[data-testid=status].cancelled", timeout=30_000)
        jobs = page.evaluate("fetch('/api/jobs').then(r => r.json())")["jobs"]
        assert [j["status"] for j in jobs] == ["done", "cancelled"] and jobs[1]["step"] < 10000 - 1

        # files that are no image, or carry a forged record, list without breaking the gallery or the inspector
        (out / "broken.png").write_bytes(b"not a png")
        forged = PngImagePlugin.PngInfo()
        forged.add_text("rae", '{"format": "rae-sample/1", "sampler": 5, "guidance": null, "seed": {"x": 1}}')
        Image.new("RGB", (8, 8)).save(out / "forged.png", pnginfo=forged)
        page.click("[data-testid=tab-gallery]")
        for name in ("broken.png", "forged.png"):
            page.click(f".card[data-name='{name}']")
            page.locator("[data-testid=inspector] dd", has_text=name).wait_for()
        page.click("[data-testid=delete]")  # after the confirmation, the file and its card go
        page.click("[data-testid=dialog-ok]")
        page.locator(".card[data-name='forged.png']").wait_for(state="detached")
        assert not (out / "forged.png").exists() and page.locator(".card[data-name='broken.png']").count() == 1

        # the gallery shows the image; replay makes the same pixels
        page.click(f".card[data-name='{first}']")
        page.click("[data-testid=replay]")
        page.wait_for_selector("[data-testid=status].done", timeout=60_000)
        again = page.get_attribute("[data-testid=job-grid] figure", "data-name")
        assert again != first and np.array_equal(pixels(out / again), pixels(out / first))

        page.wait_for_selector("[data-testid=recent] img")
        page.click("#defaults")  # the form as a user starts from (the preset's settings)
        page.locator("[data-testid=estimate]", has_text="49 steps").wait_for()
        page.screenshot(path=str(shots / "app.png"), full_page=True)

        # what the form accepts and offers: any scale (the released autoguidance scale is 1.42); no
        # quantization on the torch backend; the header names the dtype of the last job
        assert page.is_disabled("[data-testid=quantize]")
        page.fill("[data-testid=scale]", "1.42")
        assert page.evaluate("document.getElementById('form').checkValidity()")
        page.click("summary")
        page.select_option("#dtype", "bfloat16")
        page.fill("[data-testid=steps]", "3")
        page.click("[data-testid=generate]")
        page.locator("#engine", has_text="bfloat16").wait_for(timeout=60_000)
        # ImageNet class search: the exact name first ("otter" is 360, not otterhound 175), and the first class
        # picked replaces the form's default one
        page.click("[data-testid=tab-generate]")
        page.select_option("[data-testid=preset]", "dit-dh-xl-256-ag")
        page.locator("#class-count", has_text="1000 classes").wait_for()
        page.fill("[data-testid=class-search]", "otter")
        page.press("[data-testid=class-search]", "Enter")
        assert page.inner_text("[data-testid=chips]").replace("×", "").split() == ["otter", "#360"]

        # a download whose failure event arrives before the POST's answer (still "running") shows the failure
        def stale_answer(route):
            answer = route.fetch()
            page.wait_for_timeout(300)  # the failure's event is on the page by now
            route.fulfill(response=answer, json={**answer.json(), "status": "running", "error": None})

        page.route("**/api/presets/dinov2-s/download", stale_answer)
        page.click("[data-testid=tab-models]")
        page.click(".preset[data-name='dinov2-s'] .download button")
        page.locator("#download-dinov2-s", has_text="rae download dinov2-s").wait_for(timeout=5_000)
        page.wait_for_timeout(500)
        assert "HF_HUB_OFFLINE" in page.inner_text("#download-dinov2-s")

        # a phone-narrow window: nothing wider than the window on any page
        page.set_viewport_size({"width": 390, "height": 844})
        for tab in ("generate", "gallery", "models"):
            page.click(f"[data-testid=tab-{tab}]")
            page.wait_for_timeout(200)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, tab
        browser.close()
    assert not errors, errors
