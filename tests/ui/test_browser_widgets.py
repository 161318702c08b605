"""In a real headless Chromium: errors stay in place and widgets keep working; the lexicon's
imports ask before replacing; Stop/Resume follow the run; the compare page explains itself
and stays short; a reload opens the tab last used. No training: a finished run is written
into the runs folder as the pipeline would leave it.

Screenshots go to build/ui-screenshots/ (names starting with ``w``).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import SCREENSHOTS

pytestmark = pytest.mark.ui


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def fake_report(n: int = 45) -> dict:
    figures = {
        "wer": 0.2,
        "cer": 0.1,
        "term_recall": 0.5,
        "substitutions": 3,
        "deletions": 1,
        "insertions": 2,
        "rtf": 0.1,
        "term_recall_by_category": {"drug": 0.5},
    }
    utts = [
        {
            "id": f"clip{i:03d}",
            "status": "fixed" if i % 2 else "unchanged",
            "reference": "take zolpidem",
            "base": "take sold them",
            "adapted": "take zolpidem",
            "base_wer": 0.5,
            "adapted_wer": 0.0,
            "base_alignment": [
                {"op": "equal", "ref": "take", "hyp": "take"},
                {"op": "substitute", "ref": "zolpidem", "hyp": "sold them"},
            ],
            "adapted_alignment": [{"op": "equal", "ref": "take zolpidem", "hyp": "take zolpidem"}],
        }
        for i in range(n)
    ]
    data = {
        "n": n,
        "base": figures,
        "adapted": {**figures, "wer": 0.0},
        "wer_difference": {"value": -0.2, "ci95": [-0.3, -0.1]},
        "fixed": n // 2,
        "broken": 0,
        "unchanged": n - n // 2,
        "utterances": utts,
    }
    return {
        "recipe": "tiny-ui",
        "base_model": "tiny",
        "adapter": "adapter",
        "decoding": {"num_beams": 1, "summary": "greedy"},
        "sets": {"eval": data},
    }


def finished_run(runs, recipe_path: str) -> str:
    run = runs / "tiny-ui-finished"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_model.safetensors").write_bytes(b"not weights")
    (run / "report.json").write_text(json.dumps(fake_report()))
    status = {
        "state": "done",
        "phase": "finished",
        "step": 10,
        "total_steps": 10,
        "recipe_path": recipe_path,
        "started": "2026-12-02T10:00:00+0000",
    }
    (run / "status.json").write_text(json.dumps(status))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 10, "loss": 2.5}) + "\n")
    return run.name


def test_widgets_keep_working(server, page, tmp_path):
    url, ws, runs = server
    recipe_path = str(ws / "recipes" / "tiny-ui.yaml")
    run_id = finished_run(runs, recipe_path)
    page.goto(url, wait_until="load")
    open_tab(page, "Recipes")  # the page opens on "Start here"
    message = page.locator("#recipe-message")
    # The page opens on the run's own recipe, filled in (it is the first of the menu).
    message.get_by_text("opened").wait_for()
    expect(page.locator("#header-run input")).to_have_value(run_id)

    # The form follows the YAML as it is typed.
    rank = page.locator('[id="field-lora.rank"] input')
    expect(rank).to_have_value("4")
    text = (ws / "recipes" / "tiny-ui.yaml").read_text().replace("rank: 4", "rank: 6")
    page.locator("#recipe-yaml .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    expect(rank).to_have_value("6", timeout=20_000)

    # A name clash on save: a sentence in place; the Recipe menu keeps working.
    page.locator("#recipe-save-name textarea, #recipe-save-name input").first.fill("tiny-ui")
    page.locator("#recipe-save").click()
    expect(message).to_contain_text("exists", timeout=30_000)
    header = page.locator("#header-recipe")
    expect(header.locator("input")).to_have_value("tiny-ui (yours)")
    assert "Error" not in header.inner_text()
    shot(page, "w01-save-clash")

    # The lexicon: a CSV dropped on the table is read, not swapped in; merge asks first.
    open_tab(page, "Lexicon")
    table = page.locator("#lexicon-table")
    page.locator("#lexicon-message").wait_for(state="attached")
    before = table.inner_text()
    transfer = page.evaluate_handle(
        """() => { const t = new DataTransfer();
        t.items.add(new File(["term,category\\nzolpidem,drug\\nlemborexant,drug\\n"],
                             "drugs.csv", {type: "text/csv"}));
        return t; }"""
    )
    table.dispatch_event("drop", {"dataTransfer": transfer})
    note = page.locator("#lexicon-read-note")
    expect(note).to_contain_text("drugs.csv", timeout=30_000)
    expect(note).to_contain_text("2 terms")
    assert table.inner_text() == before  # nothing replaced without a word
    page.locator("#lexicon-merge").click()
    lexicon_message = page.locator("#lexicon-message")
    expect(lexicon_message).to_contain_text("2 term(s) added")
    expect(table).to_contain_text("lemborexant")
    page.locator("#lexicon-paste textarea").fill("ramelteon\n\nsuvorexant\n")
    page.locator("#lexicon-paste-add").click()
    expect(lexicon_message).to_contain_text("empty line(s) 2 left out")
    expect(table).to_contain_text("suvorexant")
    page.locator("#lexicon-add-row").click()
    expect(lexicon_message).to_contain_text("added at the end of the table")
    shot(page, "w02-lexicon-import")
    page.locator("#lexicon-save").click()
    expect(lexicon_message).to_contain_text("saved 4 terms")
    expect(lexicon_message).to_contain_text("empty row(s) 5 left out")

    # The form follows the YAML the Lexicon tab changed; the term picker offers its terms.
    open_tab(page, "Recipes")
    page.locator("#tab-recipes").get_by_role("button", name="Lexicon").click()  # its section
    field = '[id="field-lexicon.path"]'
    expect(page.locator(f"{field} input, {field} textarea").first).to_have_value(
        str(ws / "lexicons" / "my-lexicon.tsv"), timeout=20_000
    )
    open_tab(page, "Data")
    expect(page.locator("#data-synth-note")).to_contain_text("4 terms in the lexicon")
    page.locator("#data-term input").fill("suvo")
    expect(page.get_by_role("option", name="suvorexant", exact=True)).to_be_visible()

    # Try it: a file that is not audio gives one sentence, no temporary path, no pills.
    open_tab(page, "Try it")
    fake = tmp_path / "fake_audio.wav"
    fake.write_bytes(b"this is not audio at all")
    page.locator("#try-audio input[type=file]").set_input_files(str(fake))
    page.locator("#try-go").click()
    try_message = page.locator("#try-message")
    expect(try_message).to_contain_text("fake_audio.wav", timeout=60_000)
    assert "/tmp" not in try_message.inner_text() and "gradio" not in try_message.inner_text()
    for box in ("#try-base", "#try-adapted", "#try-base-prompt", "#try-adapted-prompt"):
        assert "Error" not in page.locator(box).inner_text()  # no pill in place of a box
    shot(page, "w03-try-bad-file")

    # Train: a finished run can be neither stopped nor resumed; its one loss point shows.
    open_tab(page, "Train")
    page.locator("#train-status").get_by_text(run_id).wait_for()
    expect(page.locator("#train-stop")).to_be_disabled()
    expect(page.locator("#train-resume")).to_be_disabled()
    expect(page.locator("#train-loss circle")).to_have_count(1)

    # Compare: a legend, what each figure means, and a short page however many utterances.
    open_tab(page, "Compare")
    summary = page.locator("#compare-summary")
    expect(summary.locator(".wb-legend")).to_contain_text("substituted word")
    summary.get_by_text("What is this?").click()
    expect(summary).to_contain_text("real-time factor")
    utterances = page.locator("#compare-utterances")
    expect(utterances).to_contain_text("45 utterance(s)")
    expect(utterances).to_contain_text("page 1 of 3")
    page.locator("#compare-next").click()
    expect(utterances).to_contain_text("page 2 of 3")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 5000, height
    shot(page, "w04-compare-explained")

    # A reload opens the tab last used.
    page.reload(wait_until="load")
    expect(page.get_by_role("tab", name="Compare", exact=True)).to_have_attribute(
        "aria-selected", "true", timeout=30_000
    )
    assert "Traceback" not in page.locator("body").inner_text()
