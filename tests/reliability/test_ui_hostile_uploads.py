"""The UI server under hostile uploads (issue 19): four sessions at once, each uploading the
710 KB FLAC of 3.9 hours of silence, the 765 KB zip of five 150 MB silent WAVs, and an upload
over the size limit, through the real HTTP routes of a real ``python app.py``. The server's
peak memory stays under 1.5 GB, nothing is kept in the workspace, and Gradio's copies of the
consumed uploads are gone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.reliability.test_exhaustion import hostile_flac, zip_bomb  # noqa: F401 (fixtures)
from tests.ui.conftest import running_app

pytestmark = [pytest.mark.reliability, pytest.mark.ui]
MB = 1024**2
SESSIONS = 4
LIMIT_MB = 64


def memory_kb(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture
def app_server(tmp_path):
    ws, runs, temp = tmp_path / "ws", tmp_path / "runs", tmp_path / "gradio"
    env = {
        "GRADIO_TEMP_DIR": str(temp),
        "WORKBENCH_MAX_UPLOAD_MB": str(LIMIT_MB),
        "WORKBENCH_UPLOAD_GRACE_S": "2",
    }
    with running_app(tmp_path / "app.log", ws, runs, env) as (url, proc):
        yield url, proc, ws, temp


def post_oversized(url: str, megabytes: int) -> int:
    """Stream a file of ``megabytes`` to Gradio's upload route; the HTTP status."""
    import httpx

    boundary = "workbenchboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():
        yield head
        chunk = bytes(MB)
        for _ in range(megabytes):
            yield chunk
        yield tail

    response = httpx.post(
        f"{url}/gradio_api/upload",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=120,
    )
    return response.status_code


def test_four_sessions_upload_hostile_files_and_the_server_stays_small(
    app_server,
    hostile_flac,  # noqa: F811
    zip_bomb,  # noqa: F811
    tmp_path,
):
    from gradio_client import Client, handle_file

    url, proc, ws, temp = app_server
    table = tmp_path / "list.csv"
    table.write_text(f"file_name,text\n{hostile_flac.name},silence for hours\n")
    start_kb = memory_kb(proc.pid, "VmRSS")
    samples, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            samples.append(memory_kb(proc.pid, "VmRSS"))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def session(number: int) -> None:
        try:
            client = Client(url, verbose=False)
            got = [
                client.predict(
                    [handle_file(str(hostile_flac)), handle_file(str(table))],
                    f"flac-{number}",
                    api_name="/on_import",
                ),
                client.predict(
                    [handle_file(str(zip_bomb))], f"zip-{number}", api_name="/on_import"
                ),
                post_oversized(url, LIMIT_MB + 16),
            ]
            results[number] = got
        except BaseException as exc:  # the main thread reports it
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(SESSIONS)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    elapsed = time.perf_counter() - began
    stop.set()
    watcher.join()
    peak_kb = memory_kb(proc.pid, "VmHWM")
    assert not errors, errors
    assert len(results) == SESSIONS
    for number, (flac, bomb, status) in results.items():
        assert "nothing was kept" in flac[0] and "by its header" in str(flac[1]), flac
        assert "nothing was kept" in bomb[0] and "MB limit" in str(bomb[1]), bomb
        assert status == 413, (number, status)
    time.sleep(4)  # the grace before consumed uploads are deleted
    kept = [p for p in (ws / "data").rglob("*") if p.is_file()] if (ws / "data").exists() else []
    left = sum(p.stat().st_size for p in temp.rglob("*") if p.is_file()) if temp.exists() else 0
    print(
        f"\n{SESSIONS} sessions x (3.9 h FLAC, zip of 5 x 150 MB WAVs, {LIMIT_MB + 16} MB upload): "
        f"{elapsed:.1f} s; server RSS {start_kb / 1024:.0f} MB before, peak "
        f"{peak_kb / 1024:.0f} MB (sampled max {max(samples) / 1024:.0f} MB); "
        f"{len(kept)} files kept in the workspace; {left / MB:.2f} MB left in Gradio's folder"
    )
    assert peak_kb < 1.5 * 1024 * 1024
    assert kept == []
    assert left < 1 * MB
