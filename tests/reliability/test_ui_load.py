"""The UI under load, in a real headless Chromium: two users starting runs at the same moment,
several sessions polling a training, reloads during it, every browser gone before it ends.
No run lost, none duplicated, and training never stalls on its readers."""

from __future__ import annotations

import itertools
import json
import re
import statistics
import threading
import time

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import browser, server  # noqa: F401 (fixtures)
from tests.ui.test_browser import choose, open_tab

pytestmark = [pytest.mark.reliability, pytest.mark.ui]
STEPS = 24


class StepClock:
    """Samples the run's status.json from the side: when did each step first show?"""

    def __init__(self, runs) -> None:
        self.runs, self.seen, self.stop = runs, {}, threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stop.is_set():
            for status in self.runs.glob("*/status.json"):
                try:
                    step = json.loads(status.read_text()).get("step") or 0
                except (OSError, ValueError):
                    continue
                self.seen.setdefault(step, time.monotonic())
            time.sleep(0.05)

    def gaps(self) -> list[float]:
        times = [self.seen[s] for s in sorted(self.seen) if s > 0]
        return [b - a for a, b in itertools.pairwise(times)]


def test_sessions_polling_reloading_and_racing_to_start(server, browser):  # noqa: F811
    url, ws, runs = server
    recipe = (ws / "recipes" / "tiny-ui.yaml").read_text()
    load = recipe.replace("name: tiny-ui", "name: tiny-load").replace(
        "max_steps: 4", f"max_steps: {STEPS}"
    )
    assert load != recipe
    (ws / "recipes" / "tiny-load.yaml").write_text(load)
    before = {p.name for p in runs.iterdir()} if runs.exists() else set()

    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(4)]
    pages = [c.new_page() for c in contexts]
    for page in pages:
        page.set_default_timeout(90_000)
        page.goto(url, wait_until="load")
    a, b, c, d = pages
    for page in (a, b):
        open_tab(page, "Recipes")  # the page opens on "Start here"
        choose(page, "header-recipe", "tiny-load (yours)")
        page.locator("#recipe-message").get_by_text("opened").wait_for()
        open_tab(page, "Train")

    # Two users press Start at the same moment: exactly one run, the other told why.
    clock = StepClock(runs)
    a.locator("#train-start").click(no_wait_after=True)
    b.locator("#train-start").click(no_wait_after=True)
    # Each page says what happened in its Train tab's message line.
    lines = [
        p.locator("#train-message").filter(has_text=re.compile("started|still")) for p in (a, b)
    ]
    for line in lines:
        line.wait_for()
    said = sorted(line.inner_text() for line in lines)
    assert sum("started" in s for s in said) == 1, said
    assert sum("still" in s for s in said) == 1, said
    new = [p for p in runs.iterdir() if p.name not in before and (p / "status.json").is_file()]
    assert len(new) == 1, new
    run = new[0]

    # Two more sessions watch the same run; one reloads again and again while it trains.
    for page in (c, d):
        page.reload(wait_until="load")
        open_tab(page, "Train")
        page.locator("#train-status").get_by_text(run.name).wait_for()
    reloads = 0
    while json.loads((run / "status.json").read_text()).get("step", 0) < STEPS // 2:
        c.reload(wait_until="load")
        open_tab(c, "Train")
        c.locator("#train-status").get_by_text(run.name).wait_for()
        reloads += 1
    assert reloads >= 1
    # Every browser goes away; the run goes on alone.
    for context in contexts:
        context.close()
    deadline = time.time() + 600
    while json.loads((run / "status.json").read_text()).get("phase") not in ("finished", "failed"):
        assert time.time() < deadline, "the run did not finish"
        time.sleep(0.5)
    clock.stop.set()
    status = json.loads((run / "status.json").read_text())
    assert status["phase"] == "finished" and status["step"] == STEPS, status
    steps = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").open()) if "loss" in r]
    assert steps == list(range(1, STEPS + 1))
    assert [p for p in runs.iterdir() if p.is_dir() and p.name not in before] == [run]

    # No stall: no gap between steps far beyond the usual step time (a trainer blocked on a
    # full pipe, or waiting for a browser, would stop here for good).
    gaps = clock.gaps()
    typical = statistics.median(gaps)
    assert max(gaps) < 10 * typical + 10, (max(gaps), typical)
    print(
        f"\n4 sessions, {reloads} reloads, 2 simultaneous starts -> 1 run; "
        f"step gaps median {typical:.2f} s, max {max(gaps):.2f} s"
    )

    # A new session later finds the finished run and its figures.
    page = browser.new_context().new_page()
    page.goto(url, wait_until="load")
    choose(page, "header-run", run.name)
    open_tab(page, "Compare")
    expect(page.locator("table.wb-figures")).to_be_visible(timeout=60_000)
    page.context.close()
