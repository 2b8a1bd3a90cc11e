"""The playground page (`GET /playground`, src/serve/playground.html) in a real browser:
Playwright driving Debian's chromium headless against `serve` with the fake engine library (real
PNG/WebP bytes, one "step n/N" log line per step, 100 ms a step when the prompt starts with
"slow"). Fills the form built from /openapi.json, generates, watches the progress text change,
sees the images load, shows 422s next to their fields, 409 busy, a failed prediction, cancels,
checks that markup in a prompt never executes, the token flow, a phone-width layout, and the
404 with `--playground=false`.

Chromium comes from Debian (`apt-get install chromium`, deps/apt.txt), never downloaded:
executable_path=/usr/bin/chromium (or $SDXL_CHROMIUM). Playwright launches it headless without
its setuid sandbox (chromium_sandbox=False), which a root or container user cannot have.
Screenshots of a finished generation go to the test's tmp dir; with
SDXL_UPDATE_DOCS_SCREENSHOT=1 the desktop one is also written to docs/img/playground.png.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed: `pip install -r deps/requirements.txt`")

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SDXL_CHROMIUM", "/usr/bin/chromium"))
DOCS_SCREENSHOT = REPO / "docs" / "img" / "playground.png"
XSS = ('<img src=x onerror="window.__xss=1;alert(1)">'
       '<script>window.__xss=2;alert(2)</script><b onmouseover=alert(3)>bold</b>')


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: `apt-get install chromium` (deps/apt.txt)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              chromium_sandbox=False)
        yield b
        b.close()


class Tab:
    """One browser context + page, with the page's JS errors and dialogs recorded."""

    def __init__(self, browser, **context_args):
        self.context = browser.new_context(**context_args)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)

    def open(self, server, wait_form=True):
        response = self.page.goto(server.url + "/playground")
        if wait_form:
            self.page.wait_for_selector("#in-prompt")
        return response

    def field(self, name):
        return self.page.locator(f'.field[data-field="{name}"]')

    def set(self, name, value):
        self.page.fill(f"#in-{name}", str(value))

    def set_seed(self, value):
        if self.page.is_checked("#random-seed"):
            self.page.uncheck("#random-seed")
        self.page.fill("#in-seed", str(value))

    def wait_card(self, status, timeout=20000):
        return self.page.wait_for_selector(f'#history .card[data-status="{status}"]',
                                           timeout=timeout)

    def cards(self):
        return self.page.locator("#history .card")

    def wait_images_loaded(self):
        self.page.wait_for_function(
            """() => { const imgs = [...document.querySelectorAll('#history .card figure img')];
                       return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""")

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser):
    t = Tab(browser, viewport={"width": 1280, "height": 860})
    yield t
    t.close()
    assert not t.errors, f"JavaScript errors in the page: {t.errors}"


def record_progress(page):
    """Records every distinct progress text the page shows from now on."""
    page.evaluate("""() => {
      window.__progress = [];
      const seen = () => {
        for (const e of document.querySelectorAll('#history .progress-text, #run-status')) {
          const t = e.textContent;
          if (t && window.__progress[window.__progress.length - 1] !== t) window.__progress.push(t);
        }
      };
      new MutationObserver(seen).observe(document.body,
          {subtree: true, childList: true, characterData: true});
    }""")


def test_page_served_with_csp_and_route_rules(serve_factory, fake_model):
    s = serve_factory(model=fake_model)
    r = s.request("GET", "/playground")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    assert "connect-src 'self'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.text.startswith("<!doctype html>") and "://" not in r.text  # nothing from elsewhere
    post = s.request("POST", "/playground")
    assert post.status == 405 and post.headers["Allow"] == "GET,HEAD"
    # The page's progress poll: in-flight predictions only; never creates one.
    missing = s.request("GET", "/playground/predictions/nope")
    assert missing.status == 404 and missing.json == {}
    assert s.health()["status"] == "READY"
    assert s.request("GET", "/").status == 200 and "predictions_url" in s.request("GET", "/").json


def test_playground_off_is_404(serve_factory, fake_model, browser):
    s = serve_factory(model=fake_model, args=["--playground=false"])
    assert s.request("GET", "/playground").status == 404
    assert s.request("GET", "/playground/predictions/x").status == 404
    assert s.request("GET", "/openapi.json").status == 200  # the API itself is unchanged
    t = Tab(browser)
    try:  # the browser gets the 404 too (an empty body: chromium's navigation calls it a failure)
        assert t.context.request.get(s.url + "/playground").status == 404
    finally:
        t.close()


def test_generate_shows_progress_and_real_images(serve_factory, fake_model, tab, tmp_path):
    s = serve_factory(model=fake_model)
    tab.open(s)
    page = tab.page
    # The form comes from /openapi.json: enums as selects, ranges as sliders + boxes, seed random.
    assert page.eval_on_selector("#in-aspect_ratio", "e => e.tagName") == "SELECT"
    assert "16:9" in page.eval_on_selector("#in-aspect_ratio",
                                           "e => [...e.options].map(o => o.value)")
    assert page.input_value("#in-aspect_ratio") == "1:1"
    assert page.input_value("#in-output_format") == "webp"
    assert page.get_attribute('.field[data-field="num_outputs"] input[type=range]', "max") == "3"
    assert page.input_value("#in-num_inference_steps") == "4"  # the model's recipe
    assert page.input_value("#in-guidance_scale") == "0"
    assert page.is_checked("#random-seed") and page.is_disabled("#in-seed")
    assert page.text_content('.field[data-field="output_format"] .name') == "Output Format"
    order = page.eval_on_selector_all(".field", "fs => fs.map(f => f.dataset.field)")
    assert order[:3] == ["prompt", "negative_prompt", "aspect_ratio"]

    tab.set("prompt", "slow: a lighthouse on a cliff at dawn, oil painting")
    tab.set("num_inference_steps", 12)
    tab.set("num_outputs", 2)
    page.select_option("#in-output_format", "png")
    tab.set_seed(42)
    record_progress(page)
    page.click("#generate")
    assert page.is_disabled("#generate") and page.is_enabled("#cancel")
    tab.wait_card("succeeded")
    tab.wait_images_loaded()

    progress = page.evaluate("window.__progress")
    steps = sorted({int(m.group(1)) for t in progress for m in [re.search(r"step (\d+)/12", t)]
                    if m})
    assert len(steps) >= 2 and steps[0] < 12, progress  # it moved while the prediction ran

    card = page.locator('#history .card[data-status="succeeded"]')
    imgs = card.locator("figure img")
    assert imgs.count() == 2
    for i in range(2):
        img = imgs.nth(i)
        assert img.evaluate("e => e.naturalWidth") == 2  # the fake engine's 2x1 image, decoded
        src = img.get_attribute("src")
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        fig = card.locator("figure").nth(i)
        assert fig.locator(".seed").text_content() == "seed 42"
        assert fig.locator(".format").text_content() == "PNG"
        assert fig.locator(".size").text_content() == "2×1"
        assert re.fullmatch(r"\d+\.\d+ s", fig.locator(".time").text_content())
        link = fig.locator("a.download")
        assert link.get_attribute("href") == src
        assert link.get_attribute("download").endswith(".png")
    meta = card.locator(".meta").text_content()
    assert "seed 42" in meta and "12 steps" in meta and "png" in meta
    assert re.search(r"\d+\.\d+ s", meta)
    assert "step 12/12" in card.locator("pre").text_content()
    assert page.is_enabled("#generate") and page.is_disabled("#cancel")
    assert s.health()["status"] == "READY"

    # A second one (WebP, random seed): newest first, both kept in the page's history.
    tab.set("prompt", "a red fox in the snow")
    page.select_option("#in-output_format", "webp")
    page.check("#random-seed")
    page.click("#generate")
    page.wait_for_function(
        "() => document.querySelectorAll('#history .card[data-status=succeeded]').length === 2")
    tab.wait_images_loaded()
    first = tab.cards().nth(0)
    assert first.locator(".prompt").text_content() == "a red fox in the snow"
    assert first.locator("figure img").count() == 2  # the form kept num_outputs 2
    assert first.locator("figure img").first.get_attribute("src").startswith(
        "data:image/webp;base64,")
    assert first.locator(".format").first.text_content() == "WEBP"
    assert re.fullmatch(r"seed \d+", first.locator(".seed").first.text_content())

    page.screenshot(path=str(tmp_path / "playground.png"))
    assert (tmp_path / "playground.png").stat().st_size > 10000
    if os.environ.get("SDXL_UPDATE_DOCS_SCREENSHOT") == "1":
        page.evaluate("document.getElementById('form').scrollTop = 0")
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOT))

    # "Reuse settings" of the older one puts its prompt, format and exact seed back.
    tab.cards().nth(1).locator("button.reuse").click()
    assert page.input_value("#in-prompt").startswith("slow: a lighthouse")
    assert page.input_value("#in-output_format") == "png"
    assert page.input_value("#in-seed") == "42" and not page.is_checked("#random-seed")
    # The history survives a reload of the tab (sessionStorage), images included.
    page.reload()
    page.wait_for_selector("#in-prompt")
    assert tab.cards().count() == 2
    tab.wait_images_loaded()
    page.click("#clear-history")
    assert tab.cards().count() == 0


def test_validation_errors_next_to_their_fields(serve_factory, fake_model, tab):
    s = serve_factory(model=fake_model)
    tab.open(s)
    page = tab.page
    tab.set("prompt", "a cat")
    tab.set("num_outputs", 9)
    tab.set("guidance_scale", 99)
    tab.set_seed("12ab")
    page.click("#generate")
    err = tab.field("num_outputs").locator(".error")
    err.wait_for(state="visible")
    assert "less than or equal to 3" in err.text_content()
    assert "less than or equal to 50" in tab.field("guidance_scale").locator(".error").text_content()
    assert tab.field("seed").locator(".error").text_content().strip()
    assert tab.field("prompt").locator(".error").is_hidden()
    for name in ["num_outputs", "guidance_scale", "seed"]:
        assert "invalid" in tab.field(name).get_attribute("class")
    assert "422" in page.text_content("#banner")
    assert tab.cards().count() == 0  # nothing ran
    # 64-bit seeds travel digit for digit (a JS number would round this one).
    tab.set("num_outputs", 1)
    tab.set("guidance_scale", 0)
    tab.set_seed("9223372036854775807")
    page.click("#generate")
    tab.wait_card("succeeded")
    assert tab.field("num_outputs").locator(".error").is_hidden()
    assert page.is_hidden("#banner")
    assert tab.cards().nth(0).locator(".seed").text_content() == "seed 9223372036854775807"
    tab.set_seed("9223372036854775808")  # one past int64: the server says so, next to the seed
    page.click("#generate")
    tab.field("seed").locator(".error").wait_for(state="visible")
    assert tab.cards().count() == 1


def test_cancel_a_running_prediction(serve_factory, fake_model, tab):
    s = serve_factory(model=fake_model)
    tab.open(s)
    page = tab.page
    tab.set("prompt", "slow and long")
    tab.set("num_inference_steps", 100)
    page.click("#generate")
    page.wait_for_function(
        "() => /step ([3-9]|\\d\\d)\\/100/.test("
        "document.querySelector('#history .progress-text')?.textContent || '')")
    assert s.health()["status"] == "BUSY"
    page.click("#cancel")
    card = tab.wait_card("canceled", timeout=5000)
    assert re.search(r"canceled at step \d+/100", card.text_content())
    assert card.query_selector("figure") is None
    s.wait_health("READY", timeout=5)
    assert page.is_enabled("#generate") and page.is_disabled("#cancel")
    assert page.text_content("#banner") == "Canceled."


def test_busy_and_failed_predictions_say_so(serve_factory, fake_model, tab):
    s = serve_factory(model=fake_model)
    tab.open(s)
    page = tab.page
    # Another client holds the one slot: 409, explained; no card.
    busy = s.request("PUT", "/predictions/other-client",
                     {"input": {"prompt": "slow other", "num_inference_steps": 100}},
                     headers={"Prefer": "respond-async"})
    assert busy.status == 202
    tab.set("prompt", "mine")
    page.click("#generate")
    page.wait_for_function("() => document.querySelector('#banner').textContent.includes('busy')")
    assert tab.cards().count() == 0
    assert page.is_enabled("#generate")
    assert s.request("POST", "/predictions/other-client/cancel").status == 200
    s.wait_health("READY", timeout=5)
    # The fake engine fails an empty prompt: the card and the banner carry the error.
    # Ctrl+Enter (and Cmd+Enter) generate from anywhere in the form.
    tab.set("prompt", "")
    page.focus("#in-prompt")
    page.keyboard.press("Control+Enter")
    card = tab.wait_card("failed")
    assert card.query_selector(".error").text_content() == "empty prompt"
    assert "The prediction failed: empty prompt" in page.text_content("#banner")
    tab.set("prompt", "now it works")
    page.keyboard.press("Meta+Enter")
    tab.wait_card("succeeded")
    assert tab.cards().count() == 2


def test_markup_in_a_prompt_never_executes(serve_factory, fake_model, tab):
    s = serve_factory(model=fake_model)
    tab.open(s)
    page = tab.page
    tab.set("prompt", XSS)
    tab.set("negative_prompt", XSS)
    page.click("#generate")
    tab.wait_card("succeeded")
    tab.wait_images_loaded()

    def check():
        assert page.evaluate("window.__xss") is None
        assert tab.dialogs == []
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("#history b").count() == 0
        assert page.evaluate("[...document.scripts].filter(s => s.textContent.includes('__xss'))"
                             ".length") == 0
        assert tab.cards().nth(0).locator(".prompt").text_content() == XSS  # shown as text

    check()
    page.hover("#history .card .prompt")
    # Reuse puts the markup back into the form as text; the history is re-rendered after reload.
    tab.cards().nth(0).locator("button.reuse").click()
    assert page.input_value("#in-prompt") == XSS
    page.reload()
    page.wait_for_selector("#history .card")
    check()


def test_token_field_and_bearer_header(serve_factory, fake_model, tab):
    s = serve_factory(model=fake_model, env=dict(os.environ, SDXL_API_TOKEN="s3cret-t0ken"))
    assert s.request("GET", "/playground").status == 200  # the page itself is public
    assert s.request("GET", "/openapi.json").status == 401
    assert s.request("GET", "/playground/predictions/x").status == 401
    tab.open(s, wait_form=False)
    page = tab.page
    banner_asks = "() => document.querySelector('#banner').textContent.includes('API token')"
    page.wait_for_function(banner_asks)
    assert page.evaluate("document.querySelector('#auth').open")
    page.fill("#token", "wrong")
    with page.expect_response(lambda r: r.url.endswith("/openapi.json")) as wrong:
        page.click("#token-form button[type=submit]")
    assert wrong.value.status == 401
    page.wait_for_function(banner_asks)
    assert page.locator("#in-prompt").count() == 0
    page.fill("#token", "s3cret-t0ken")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#in-prompt")
    assert page.evaluate("sessionStorage.getItem('sdxl-playground-token')") == "s3cret-t0ken"
    assert page.text_content("#auth-summary") == "API token ✓"
    tab.set("prompt", "slow with a token")
    tab.set("num_inference_steps", 6)
    record_progress(page)
    page.click("#generate")
    tab.wait_card("succeeded")
    assert any("step" in t for t in page.evaluate("window.__progress"))  # the poll had the token
    # Kept for this tab (sessionStorage): a reload keeps it; "Forget" drops it.
    page.reload()
    page.wait_for_selector("#in-prompt")
    page.click("#auth-summary")
    page.click("#token-forget")
    assert page.evaluate("sessionStorage.getItem('sdxl-playground-token')") is None


def test_phone_width(serve_factory, fake_model, browser, tmp_path):
    s = serve_factory(model=fake_model)
    t = Tab(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
            device_scale_factor=2)
    try:
        t.open(s)
        page = t.page
        t.set("prompt", "slow: phone test")
        t.set("num_inference_steps", 5)
        page.tap("#generate")
        t.wait_card("succeeded")
        t.wait_images_loaded()
        # No sideways scrolling; the form stacks above the results; controls fit the screen.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        form = page.locator("#form").bounding_box()
        results = page.locator("#results").bounding_box()
        assert results["y"] >= form["y"] + form["height"] - 1
        assert form["x"] >= 0 and form["x"] + form["width"] <= 390
        for sel in ["#generate", "#in-prompt", "#history .card figure img"]:
            box = page.locator(sel).first.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, sel
        page.locator("#history .card").scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "playground-phone.png"))
        assert not t.errors, t.errors
    finally:
        t.close()
