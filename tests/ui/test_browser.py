"""End to end in a real headless Chromium: a tiny recipe run to the end through the UI.

Screenshots of every tab go to build/ui-screenshots/.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import SCREENSHOTS

pytestmark = pytest.mark.ui
TABS = ["Recipes", "Data", "Lexicon", "Augment", "Train", "Compare", "Try it", "Export", "Runs"]


def choose(page, elem_id: str, label: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=label, exact=True).click()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def settled(page, scope: str, timeout: float = 120_000) -> None:
    """Wait until no progress overlay is shown in ``scope``: it would take the clicks."""
    expect(page.locator(f"{scope} .eta-bar:visible")).to_have_count(0, timeout=timeout)


def wait_for_toast(page, text: str) -> str:
    """The text of the first message box in the page that says ``text``."""
    toast = page.locator(".toast-body").filter(has_text=text).first
    toast.wait_for()
    return toast.inner_text()


def evil_zip(folder):
    path = folder / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.csv", "file_name,transcription\n")
        zf.writestr("../../escape.wav", b"RIFF")
    return path


def good_zip(folder, manifests):
    """Two real clips and their transcripts as an audiofolder zip, plus a stray file."""
    path = folder / "clinic.zip"
    rows = [json.loads(line) for line in manifests["train"].read_text().splitlines()[:2]]
    with zipfile.ZipFile(path, "w") as zf:
        lines = ["file_name,transcription"]
        for row in rows:
            name = Path(row["audio"]).name
            zf.write(row["audio"], f"clinic/{name}")
            lines.append(f"{name},{row['text']}")
        zf.writestr("clinic/metadata.csv", "\n".join(lines) + "\n")
        zf.writestr("clinic/readme.exe", b"MZ")
    return path


def test_a_tiny_recipe_runs_to_the_end_through_the_ui(server, page, tmp_path, speech_manifests):
    url, _, runs = server
    page.goto(url, wait_until="load")
    open_tab(page, "Recipes")  # the page opens on "Start here"
    choose(page, "header-recipe", "tiny-ui (yours)")
    message = page.locator("#recipe-message")
    message.get_by_text("opened").wait_for()
    page.locator("#recipe-validate").click()
    message.get_by_text("✓ valid").wait_for()
    for name in TABS:
        open_tab(page, name)
        page.wait_for_timeout(500)
        shot(page, f"{TABS.index(name) + 1:02d}-{name.lower().replace(' ', '-')}")

    # Data: the recipe's data prepared and counted; an upload with a zip-slip entry refused,
    # a good one imported and checked.
    open_tab(page, "Data")
    page.locator("#data-prepare").click()
    expect(page.locator("#data-counts")).to_contain_text("train")
    files = page.locator("#data-files input[type=file]")
    files.set_input_files(str(evil_zip(tmp_path)))
    page.locator("#data-import").click()
    assert "outside the upload folder" in wait_for_toast(page, "refused")
    expect(page.locator("#data-upload-note")).to_contain_text("outside the upload folder")
    files.set_input_files(str(good_zip(tmp_path, speech_manifests)))
    page.locator("#data-import").click()
    expect(page.locator("#data-upload-note")).to_contain_text("2 utterances", timeout=60_000)
    expect(page.locator("#data-refused")).to_contain_text("not an audio file")
    shot(page, "02-data-upload")

    # Augment: a clip of the recipe before and after, with the drawn parameters.
    open_tab(page, "Augment")
    page.locator("#augment-load").click()
    # Listing prepares the data under a progress overlay; the controls are usable after it.
    expect(page.locator("#augment-clip input")).not_to_have_value("", timeout=120_000)
    settled(page, "#tab-augment")
    page.locator("#augment-noise input").check()
    page.locator("#augment-go").click()
    expect(page.locator("#augment-params")).to_contain_text("snr_db")
    shot(page, "04-augment-preview")

    open_tab(page, "Train")
    page.locator("#train-start").click()
    status = page.locator("#train-status")
    status.get_by_text(re.compile("tiny-ui-")).wait_for()
    # A second run while one is going is refused, with a message in the page.
    page.locator("#train-start").click()
    expect(page.locator("#train-message")).to_contain_text("wait for it to finish")
    # A reload finds the same run, still going or done.
    run_ids = [p.name for p in runs.iterdir() if (p / "status.json").is_file()]
    assert len(run_ids) == 1, run_ids
    page.reload(wait_until="load")
    open_tab(page, "Train")
    status.get_by_text(run_ids[0]).wait_for()
    status.get_by_text("finished").wait_for(timeout=400_000)
    progress = page.locator("#train-progress-text").inner_text()
    assert "step 4 / 4" in progress
    # Evaluation counted its clips into the run folder (what the page showed meanwhile).
    status = json.loads((runs / run_ids[0] / "status.json").read_text())
    assert status["eval_done"] == status["eval_total"] > 0 and status["eval_eta_s"] == 0
    shot(page, "05-train-finished")

    open_tab(page, "Compare")
    figures = page.locator("table.wb-figures")
    figures.wait_for()
    text = figures.inner_text()
    report = json.loads((runs / run_ids[0] / "report.json").read_text())
    for set_name in ("eval", "general"):
        assert set_name in text
        wer = report["sets"][set_name]["adapted"]["wer"]
        assert f"{100 * wer:.1f}%" in text  # the page shows the report's own figures
    assert "difference" in text
    page.locator("#compare-utterances table").wait_for()
    page.locator("#compare-filter").get_by_text("broken", exact=True).click()
    page.locator("#compare-utterances").get_by_text("utterance(s)").wait_for()
    shot(page, "06-compare-report")

    # Try it: a clip through base and adapted, with and without the lexicon prompt.
    open_tab(page, "Try it")
    clip = json.loads(speech_manifests["general"].read_text().splitlines()[0])["audio"]
    page.locator("#try-audio input[type=file]").set_input_files(clip)
    page.locator("#try-go").click()
    expect(page.locator("#try-adapted-prompt textarea")).not_to_have_value("", timeout=120_000)
    assert page.locator("#try-base textarea").input_value() != ""
    shot(page, "07-try-it")

    open_tab(page, "Export")
    page.locator("#export-go").click()
    page.locator("#export-file").get_by_text(".zip").wait_for(timeout=120_000)
    shot(page, "08-export-built")

    open_tab(page, "Runs")
    expect(page.locator("#runs-table")).to_contain_text(run_ids[0])
    expect(page.locator("#runs-table")).to_contain_text("finished")
    assert "Traceback" not in page.locator("body").inner_text()
