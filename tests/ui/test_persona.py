"""The persona test: a clinician who has never seen the workbench goes, through the "Start
here" tab only, from a pasted term list and a folder of recordings (a zip plus a separate
CSV, synthesized into files here) to the comparison on her own held-out recordings.

A real headless Chromium drives the page; the run trains the bundled tiny.en for a few steps.
Screenshots of every step go to build/ui-screenshots/persona-*.png, and the time each step
took to build/ui-screenshots/persona-timings.json.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from playwright.sync_api import expect

from tests.ui.conftest import CHROMIUM_ARGS, SCREENSHOTS, chromium_path

pytestmark = [pytest.mark.ui, pytest.mark.integration]

TERMS = ["metoprolol", "zolpidem", "apixaban", "clopidogrel"]
# (file, what is said, speaker, voice): two speakers, three dictations each.
DICTATIONS = [
    ("d01.wav", "Start metoprolol twice daily.", "ann", "espeak:en-gb-x-rp"),
    ("d02.wav", "Give zolpidem at bedtime.", "ann", "espeak:en-gb-x-rp"),
    ("d03.wav", "Apixaban was held this morning.", "ann", "espeak:en-gb-x-rp"),
    ("d04.wav", "Continue clopidogrel after the stent.", "bob", "espeak:en-us+m3"),
    ("d05.wav", "Stop zolpidem if she is drowsy.", "bob", "espeak:en-us+m3"),
    ("d06.wav", "Metoprolol and apixaban at home.", "bob", "espeak:en-us+m3"),
]


def her_folder(folder: Path) -> tuple[Path, Path]:
    """Her dictations synthesized into files, zipped in a folder; the CSV kept beside it."""
    from workbench.data.tts import get_voice

    audio = folder / "dictations"
    audio.mkdir(parents=True)
    archive = folder / "dictations.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text, _, voice in DICTATIONS:
            samples, rate = get_voice(voice).synthesize(text)
            sf.write(audio / name, samples, rate)
            zf.write(audio / name, f"dictations/{name}")
    table = folder / "what-i-said.csv"
    rows = [f"{name},{text},{speaker}" for name, text, speaker, _ in DICTATIONS]
    table.write_text("file_name,transcription,speaker\n" + "\n".join(rows) + "\n")
    return archive, table


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium with a fake microphone that speaks a dictation (the takes recorded in the
    page); its words are not the prompted sentence's, which the test does not need."""
    from playwright.sync_api import sync_playwright

    from workbench.data.tts import get_voice

    voice = tmp_path_factory.mktemp("microphone") / "voice.wav"
    samples, rate = get_voice("espeak:en-us").synthesize("Please continue metoprolol today.")
    sf.write(voice, samples, rate, subtype="PCM_16")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(),
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={voice}",
            ],
        )
        yield browser
        browser.close()


def record_take(page, number: int) -> None:
    """Record the sentence shown, wait for the take to play back, keep it."""
    audio = page.locator("#guided-take-audio")
    expect(audio.locator(".play-pause-button")).to_have_count(0)  # the last take was kept
    audio.locator(".record-button").click()
    # The fake microphone starts its file again at each take: takes of one length would be
    # the same recording, which the page refuses (as preparation would drop it).
    page.wait_for_timeout(1500 + 1000 * number)
    audio.locator(".stop-button").click()
    expect(audio.locator(".play-pause-button")).to_be_visible(timeout=30_000)  # listen back
    page.wait_for_timeout(1000)  # the take's upload to the server
    page.locator("#guided-take-keep").click()
    expect(page.locator("#guided-take-note")).to_contain_text(f"{number} take(s)", timeout=60_000)


class Steps:
    """Screenshots and the time of each step."""

    def __init__(self, page) -> None:
        self.page = page
        self.times: dict[str, float] = {}
        self.start = time.monotonic()
        self.number = 0
        for old in SCREENSHOTS.glob("persona-*"):  # a former run's, perhaps numbered otherwise
            old.unlink()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.number += 1
        self.times[f"{self.number:02d}-{name}"] = round(now - self.start, 1)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"persona-{self.number:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.start = time.monotonic()

    def save(self) -> None:
        (SCREENSHOTS / "persona-timings.json").write_text(json.dumps(self.times, indent=1))


def words(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


def test_a_clinician_goes_from_terms_and_a_zip_to_her_own_comparison(server, page, tmp_path):
    url, ws, runs = server
    archive, table = her_folder(tmp_path)
    page.goto(url, wait_until="load")
    steps = Steps(page)
    start_tab = page.get_by_role("tab", name="Start here", exact=True)
    expect(start_tab).to_have_attribute("aria-selected", "true")  # the first thing she sees
    missing = page.locator("#guided-missing")
    expect(missing).to_contain_text("Step 1: choose your domain")
    steps.done("start")

    page.locator("#guided-domain").get_by_text("medical", exact=True).click()
    expect(missing).not_to_contain_text("Step 1")
    steps.done("domain")

    # Her terms, pasted one a line (a blank line and a repeat among them), kept alone.
    page.locator("#guided-terms-text textarea").fill("\n".join([*TERMS, "", "Zolpidem"]))
    page.locator("#guided-merge").get_by_text("use only my terms").click()
    page.locator("#guided-terms-check").click()
    note = page.locator("#guided-terms-note")
    expect(note).to_contain_text("4 term(s) read")
    expect(note).to_contain_text("duplicate term 'Zolpidem' (first on line 2)")
    expect(page.locator("#guided-terms-preview")).to_contain_text("clopidogrel")
    expect(missing).not_to_contain_text("Step 2")
    steps.done("terms")

    # Her recordings: the zip and the CSV beside it, as they are in her folder.
    page.locator("#guided-name textarea, #guided-name input").first.fill("ward-dictations")
    page.locator("#guided-recordings input[type=file]").set_input_files([str(archive), str(table)])
    expect(page.locator("#guided-recordings")).to_contain_text("what-i-said")
    page.locator("#guided-recordings-check").click()
    rec_note = page.locator("#guided-recordings-note")
    expect(rec_note).to_contain_text("6 recording(s)", timeout=120_000)
    expect(rec_note).to_contain_text("2 speaker(s)")
    expect(rec_note).to_contain_text("ward-dictations")
    expect(missing).to_contain_text("Ready")
    steps.done("recordings")

    # Two sentences read aloud in the page (a fake microphone), one skipped between them.
    page.locator("#guided-record").get_by_text("or record yourself").click()
    page.locator("#guided-take-next").click()
    sentence = page.locator("#guided-take-sentence")
    expect(sentence).to_contain_text("Read aloud")
    first = sentence.inner_text()
    assert any(term in first for term in TERMS), first
    record_take(page, 1)
    steps.done("record-first-take")
    expect(sentence).not_to_have_text(first)  # the next sentence is offered at once
    skipped = sentence.inner_text()
    page.locator("#guided-take-skip").click()
    expect(sentence).not_to_have_text(skipped)
    record_take(page, 2)
    expect(rec_note).to_contain_text("8 recording(s)")
    steps.done("record-second-take")

    # Keep about a third for testing: one of her two speakers, never trained on.
    share = page.locator("#guided-share input[type=number]")
    share.fill("40")
    share.press("Enter")
    share_note = page.locator("#guided-share-note")
    expect(share_note).to_contain_text("3 of your 8 recordings")
    expect(share_note).to_contain_text("by speaker")
    steps.done("held-out")

    # A very short training; everyday English left out to keep the test short.
    page.locator("#guided-advanced").get_by_text("advanced").click()
    page.locator("#guided-steps input").fill("3")
    page.locator("#guided-general input").uncheck()
    page.locator("#guided-adapt").click()
    message = page.locator("#guided-message")
    expect(message).to_contain_text("Started", timeout=120_000)
    recipe = page.locator("#guided-recipe")
    expect(recipe).to_contain_text("YOUR held-out recordings (3, held out by speaker)")
    from workbench.recipe import load_recipe

    written = load_recipe(ws / "recipes" / "ward-dictations.yaml")  # the recipe she was shown
    assert written.train.max_steps == 3 and not written.data.general
    assert written.data.eval[0].path.endswith("ward-dictations/heldout.jsonl")
    steps.done("adapt")

    status = page.locator("#guided-status")
    expect(status).to_contain_text("training", timeout=300_000)
    steps.done("training")
    expect(status).to_contain_text("finished", timeout=600_000)
    results = page.locator("#guided-results")
    expect(results).to_contain_text("Your held-out recordings", timeout=30_000)
    steps.done("finished")

    run_ids = [p.name for p in runs.iterdir() if (p / "report.json").is_file()]
    assert len(run_ids) == 1, run_ids
    report = json.loads((runs / run_ids[0] / "report.json").read_text())
    evaluation = report["sets"]["eval"]
    heldout = [u for u in evaluation["utterances"] if u.get("part") == "your recordings"]
    assert len(heldout) == 3 and all(u["id"].startswith("ward-") for u in heldout)
    assert evaluation["utterances"][:3] == heldout  # hers come first
    parts = evaluation["groups"]["part"]  # her labelled part, with its own figures
    assert list(parts) == ["your recordings", "synthetic held-out"]
    assert parts["your recordings"]["n"] == 3
    assert {"wer", "cer", "term_recall"} <= set(parts["your recordings"]["adapted"])
    assert {u["reference"] for u in heldout} <= {text for _, text, _, _ in DICTATIONS}
    shown = words(results.inner_text())
    for utt in heldout:  # both transcripts of every held-out recording are on the page
        for side, key in (("ref", "adapted"), ("hyp", "base"), ("hyp", "adapted")):
            said = " ".join(c[side] for c in utt[f"{key}_alignment"] if c.get(side))  # normalized
            assert all(w in shown for w in words(said)), (key, said, shown)
    expect(page.locator("#guided-adapter")).to_contain_text("peft", timeout=30_000)

    page.locator("#guided-open-compare").click()
    expect(page.get_by_role("tab", name="Compare", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )
    picked = page.locator("#compare-set input")
    expect(picked).to_have_value(re.compile("^your recordings"))  # it opens on hers
    expect(page.locator("#compare-summary")).to_contain_text("synthetic held-out")
    compared = page.locator("#compare-utterances")
    expect(compared).to_contain_text("3 utterance(s)")
    for utt in heldout:
        expect(compared).to_contain_text(utt["id"])
    steps.done("compare")

    # A reload finds her run and her held-out recordings again.
    page.reload(wait_until="load")
    expect(page.locator("#guided-results")).to_contain_text(heldout[0]["id"], timeout=30_000)
    steps.done("reloaded")
    steps.save()
    assert "Traceback" not in page.locator("body").inner_text()
