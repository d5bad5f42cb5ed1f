"""The interactive HTML page (issue 22), opened in a real headless browser: the system's Chromium
driven by Playwright. It loads without errors for each kind (image, video, sentence) and stepping
through the words changes the map shown. Skips, saying why, where no browser is installed."""
import json
import re
import shutil

import pytest

from attnviewer.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed "
                                   "(pip install playwright; see README, 'Interactive pages')")
    path = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if path is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; see README, 'Interactive pages')")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


def opened(browser, path):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: errors.append("fetched " + r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.word === '1'")
    return page, errors


def write(tmp_path, capsys, command, source, *more):
    out = tmp_path / "page.html"
    assert main([command, source, "--html", str(out), *more]) == 0
    capsys.readouterr()
    text = out.read_text()
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)  # nothing outside the file
    return out


def test_image_page_steps_through_words_and_maps(browser, tmp_path, capsys):
    out = write(tmp_path, capsys, "caption", "resources/samples/shapes-1.png")
    page, errors = opened(browser, out)
    first = page.evaluate("document.getElementById('map').toDataURL()")
    assert "word 1 of" in page.inner_text("#info")
    page.click("#next")
    assert page.evaluate("document.body.dataset.word") == "2"
    second = page.evaluate("document.getElementById('map').toDataURL()")
    assert second != first  # another word, another map over the image
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.getElementById('map').toDataURL()") == first
    page.click("#words button:nth-child(4)")
    assert "word 4 of" in page.inner_text("#info")
    page.click("#hyps li:nth-child(2)")  # another hypothesis: its words
    assert page.evaluate("document.querySelectorAll('#hyps li.current').length") == 1
    assert errors == []


def test_video_page_weights_the_frames(browser, tmp_path, capsys):
    out = write(tmp_path, capsys, "video", "resources/samples/clip-1.mp4")
    page, errors = opened(browser, out)
    weights = "Array.from(document.querySelectorAll('#frames figure')).map(f => f.dataset.weight)"
    first = page.evaluate(weights)
    assert len(first) >= 8 and all(first)
    page.click("#next")
    page.click("#next")
    assert page.evaluate(weights) != first
    assert errors == []


def test_sentence_page_colours_the_source_words(browser, tmp_path, capsys):
    out = write(tmp_path, capsys, "translate", "the red cat sees a dog", "--greedy")
    page, errors = opened(browser, out)
    spans = "Array.from(document.querySelectorAll('#sentence span')).map(s => [s.textContent, s.dataset.weight])"
    first = page.evaluate(spans)
    assert [w for w, _ in first] == "the red cat sees a dog".split()
    page.click("#next")
    second = page.evaluate(spans)
    assert [w for w, _ in second] != [] and second != first
    # the page's data is the result's: word 2 attends most where the saved map does
    data = json.loads(page.evaluate("document.getElementById('data').textContent"))
    mp = data["hypotheses"][0]["words"][1]["map"]
    assert max(range(len(mp)), key=mp.__getitem__) == max(range(len(second)), key=lambda i: float(second[i][1]))
    assert errors == []


def test_words_from_outside_stay_text(browser, tmp_path, capsys):
    """A sentence that looks like markup is shown as the words it is, never run."""
    out = write(tmp_path, capsys, "translate", "the cat </script><img src=x onerror=alert(1)> sees a dog", "--greedy")
    page, errors = opened(browser, out)
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert "</script>" in page.inner_text("#source")
    assert errors == []


def test_a_saved_result_exports_its_page_and_it_opens(browser, tmp_path, capsys):
    saved = tmp_path / "r.json"
    assert main(["translate", "the old teacher will paint some small red boats", "--json", str(saved)]) == 0
    out = tmp_path / "again.html"
    assert main(["export", str(saved), "--html", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page, errors = opened(browser, out)
    page.click("#next")
    assert page.evaluate("document.body.dataset.word") == "2" and errors == []
