"""The built site, read as a reader would: headless Chromium over every chapter page.

Run after `jupyter-book build . -W` (``make site``). Checks each page for console errors,
failed requests, typeset math, loaded images, the Colab link, that a chapter's title comes
before its first code cell, that no output line runs off the page, and that no request leaves
localhost. A screenshot of one chapter is kept at _build/screenshot.png.
"""

from __future__ import annotations

import functools
import http.server
import json
import pathlib
import re
import shutil
import socket
import threading
import urllib.parse

import pytest
import yaml

# tests/conftest.py blocks the network for every test; these talk to the local server and
# to chromedriver over localhost only, so that much is allowed and nothing else.
pytestmark = pytest.mark.allow_hosts(["127.0.0.1", "localhost", "::1"])

ROOT = pathlib.Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [entry["file"] for entry in part["chapters"]]
    return pages


def colab_link(page: str) -> str | None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    notebook = ROOT / f"{page}.ipynb"
    if not notebook.exists():
        return None
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{repo}/blob/{config['repository']['branch']}/{page}.ipynb"


def page_markdown(page: str) -> str:
    """The prose a page is built from: a notebook's markdown cells, or a MyST .md file."""
    notebook, markdown = ROOT / f"{page}.ipynb", ROOT / f"{page}.md"
    if notebook.exists():
        cells = json.loads(notebook.read_text())["cells"]
        return "\n\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    if markdown.exists():
        return markdown.read_text()
    raise FileNotFoundError(f"{page}: neither {notebook.name} nor {markdown.name} exists")


# Display math ($$...$$), inline math ($...$ with no space inside the dollars), or MyST math
# written as a {math} role/directive or an amsmath environment.
MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\$)|\{math\}|\\begin\{[a-z]+\*?\}", re.S)
# Fenced code (```python ... ```) is not typeset; MyST directives (```{math}) are kept.
CODE_FENCE = re.compile(r"^(`{3,}|~{3,})(?!\s*\{).*?^\1\s*$", re.S | re.M)


# What typeset math never leaves in a page's prose: a TeX command (\\theta, \\operatorname) or a $.
RAW_TEX = re.compile(r"\\[A-Za-z]{2,}|\$")


def has_math(markdown: str) -> bool:
    return MATH.search(CODE_FENCE.sub("", markdown)) is not None


FIRST_HEADING_BEFORE_CODE = """
const main = document.querySelector('main');
const heading = main.querySelector('h1, h2, h3, h4, h5, h6');
const code = main.querySelector('div.cell');
if (!heading) return 'no heading at all';
if (heading.tagName !== 'H1') return 'the first heading is an ' + heading.tagName + ': ' + heading.textContent;
if (code && !(heading.compareDocumentPosition(code) & Node.DOCUMENT_POSITION_FOLLOWING)) {
  return 'a code cell comes before the title';
}
return 'ok';
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail("the site is not built: run `make site` first")
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def network_events(driver) -> list[dict]:
    return [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]


def wait_for_mathjax(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return !window.MathJax || !MathJax.startup || !MathJax.startup.promise ? 'none' :"
            " (window.__mjDone === true ? 'done' :"
            " (MathJax.startup.promise.then(() => window.__mjDone = true), 'wait'))"
        )
        in ("done", "none")
    )


@pytest.mark.browser
@pytest.mark.parametrize("page", toc_pages())
def test_page_reads_well(page, server, browser):
    url = f"{server}/{page}.html"
    network_events(browser)  # drain what earlier pages left
    browser.get_log("browser")
    browser.get(url)
    wait_for_mathjax(browser)
    if page == "book/01_derivatives":
        browser.save_screenshot(str(ROOT / "_build" / "screenshot.png"))  # kept as a CI artefact
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # lazy images load too
    browser.execute_script("return new Promise(r => setTimeout(r, 300))")

    console = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not console, f"console errors on {page}: {console}"

    events = network_events(browser)
    sent = {e["params"]["requestId"]: e["params"]["request"]["url"] for e in events
            if e["method"] == "Network.requestWillBeSent"}
    requested = list(sent.values())
    external = [u for u in requested if urllib.parse.urlparse(u).scheme in ("http", "https")
                and urllib.parse.urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert not external, f"{page} requested outside localhost: {external}"
    # Only this page's requests (Chromium's own background navigations have no page request, and
    # its new-tab page, chrome-untrusted://new-tab-page/..., is sometimes aborted at start-up).
    failed = [(sent[e["params"]["requestId"]], e["params"]["errorText"]) for e in events
              if e["method"] == "Network.loadingFailed" and e["params"]["requestId"] in sent
              and urllib.parse.urlparse(sent[e["params"]["requestId"]]).scheme in ("http", "https")]
    assert not failed, f"failed requests on {page}: {failed}"
    bad_status = [(e["params"]["response"]["url"], e["params"]["response"]["status"]) for e in events
                  if e["method"] == "Network.responseReceived" and e["params"]["response"]["status"] >= 400]
    assert not bad_status, f"HTTP errors on {page}: {bad_status}"

    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.currentSrc.slice(0, 80), i.complete, i.naturalWidth])"
    )
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"images that did not load on {page}: {broken}"

    # Math, whether the page comes from a notebook or from a .md file.
    body_text = browser.execute_script("return document.querySelector('main').innerText")
    assert not re.search(r"\$\$", body_text), f"raw $$ left on {page}"
    if has_math(page_markdown(page)):
        typeset = browser.execute_script("return document.querySelectorAll('main mjx-container').length")
        assert typeset > 0, f"no math typeset on {page}"
    # Prose outside typeset math, code and cell outputs must hold no TeX commands and no stray $
    # (a $ pairing that went wrong leaves both behind, as raw text in italics).
    prose = browser.execute_script(
        "const main = document.querySelector('main').cloneNode(true);"
        "main.querySelectorAll('mjx-container, pre, code, script, style, .cell_output, .MathJax')"
        ".forEach(e => e.remove());"
        "return main.innerText"
    )
    leftovers = RAW_TEX.findall(prose)
    assert not leftovers, f"untypeset TeX or stray $ in the prose of {page}: {leftovers[:5]}"

    # The launch button in the page header (sphinx-book-theme's launch dropdown) and the
    # badge in the notebook's first cell share one href: look at each in its own place.
    launch = browser.execute_script(
        "return Array.from(document.querySelectorAll("
        "'.article-header-buttons .dropdown-launch-buttons .dropdown-menu a.dropdown-item'))"
        ".map(a => [a.href, a.textContent.trim()])"
    )
    badges = browser.execute_script(
        "return Array.from(document.querySelectorAll('article.bd-article a'))"
        ".filter(a => a.querySelector('img[alt=\"Open In Colab\"]')).map(a => a.href)"
    )
    link = colab_link(page)
    if link is None:  # a .md page: nothing to launch
        assert launch == [] and badges == [], f"{page} offers launch links: {launch} {badges}"
    else:
        assert launch == [[link, "Colab"]], f"{page}: header launch button is {launch}, expected Colab at {link}"
        assert badges == [link], f"{page}: Colab badge links to {badges}, expected {link}"
        hrefs = browser.execute_script("return Array.from(document.querySelectorAll('a')).map(a => a.href)")
        assert all(not h.startswith("https://colab.research.google.com") or h == link for h in hrefs)
        figures = browser.execute_script("return document.querySelectorAll('.cell_output img').length")
        assert figures > 0, f"{page} shows no figure"
        # A chapter opens with its title: the first heading of the page is the h1, before any code cell.
        order = browser.execute_script(FIRST_HEADING_BEFORE_CODE)
        assert order == "ok", f"{page}: {order}"

    # Long output lines wrap (_css/ffbook.css) instead of running off the page.
    overflowing = browser.execute_script(
        "return Array.from(document.querySelectorAll('main .cell_output pre'))"
        ".filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.slice(0, 60))"
    )
    assert not overflowing, f"output lines wider than the page on {page}: {overflowing}"


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("The slope $f'(x)$ of a curve.", True),
        ("Display:\n\n$$\n\\frac{df}{dx}\n$$\n", True),
        ("```{math}\ne^{i\\pi} + 1 = 0\n```", True),
        ("A role: {math}`x^2`.", True),
        ("\\begin{align*} a &= b \\end{align*}", True),
        ("It costs $ 5 and $ 6, no math.", False),
        ("```bash\necho $HOME $PATH\n```\nPlain prose.", False),
        ("No dollars at all.", False),
    ],
)
def test_math_is_detected_in_markdown(markdown, expected):
    assert has_math(markdown) is expected


@pytest.mark.parametrize(
    ("text", "raw"),
    [("softplus of the margin", False), ("the loss \\operatorname{softplus}(\\theta - G)", True),
     ("a stray $ sign", True), ("a path C:\\x is fine", False)],
)
def test_raw_tex_is_recognised(text, raw):
    assert bool(RAW_TEX.search(text)) is raw


def test_every_page_source_is_read():
    for page in toc_pages():
        assert page_markdown(page).strip(), f"{page}: no markdown read"
    assert "# " in page_markdown(toc_pages()[0])  # intro.md, a .md page



def test_only_localhost_is_reachable_from_these_tests():
    from pytest_socket import SocketConnectBlockedError

    with pytest.raises(SocketConnectBlockedError), pytest.warns(UserWarning, match="203.0.113.7"):
        socket.create_connection(("203.0.113.7", 80), timeout=1)  # TEST-NET-3: never routed


@pytest.mark.parametrize("page", [p for p in toc_pages() if (ROOT / f"{p}.ipynb").exists()])
def test_widgets_show_their_text_fallback_not_a_dead_widget(page):
    """Widgets are not rendered as (dead) widget views; each widget's plain-text fallback is shown.

    myst-nb still embeds the notebook's widget state as an inert JSON script in the page head;
    with no widget JavaScript loaded nothing reads it.
    """
    html = (HTML / f"{page}.html").read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-view+json" not in html
    cells = json.loads((ROOT / f"{page}.ipynb").read_text())["cells"]
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                text = "".join(data["text/plain"]).strip().splitlines()[0]
                # the page escapes < and > as HTML entities
                assert text.replace("<", "&lt;").replace(">", "&gt;")[:60] in html, text


@pytest.mark.parametrize("page", toc_pages())
def test_glued_numbers_and_displayed_tables_are_rendered(page):
    """No glue role is left as text (a glued name that no output holds), and chapter 9's tables of
    results, which its cells display as Markdown, become HTML tables (not rows of pipes)."""
    html = (HTML / f"{page}.html").read_text()
    assert "{glue" not in re.sub(r"<[^>]+>", "", html)
    if page.endswith("09_ff_mnist"):
        assert html.count("<table") >= 4  # the recipe (prose), and the rules, runs and ablation (outputs)
