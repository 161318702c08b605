"""`workbench serve` under load: dynamic batching against one request at a time, and against
faster-whisper int8 transcribing the same clips one after another.

    python bench/serve.py [--model tiny.en] [--clients 1 4 16] [--requests 48] [--threads 1]
                          [--max-batch 8]

Real clips (Debian pocketsphinx-testdata: the five LibriVox readings and five cards prompts)
are sent by N concurrent clients (each sends its next request when the last one answered) to
a real `workbench serve` subprocess with the bundled model: once with dynamic batching
(--max-batch 8, or as given) and once one request at a time (--max-batch 1), same build,
same settings.
Prints requests per second, p50/p95 latency, the batching/one-at-a-time throughput ratio, the
ratio against faster-whisper int8 on the same bundled checkpoint (one clip after another,
greedy, no timestamps, no VAD), and how many served transcripts equal the one-at-a-time
server's. Note the machine's load (uptime) beside the figures: on a shared machine they move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CARDS = Path("/usr/share/pocketsphinx/test/data/cards")


def clip_paths() -> list[Path]:
    from workbench.demo import librivox_clips

    return [c.path for c in librivox_clips()] + sorted(CARDS.glob("*.wav"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, max_batch: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "serve", "--model", model, "--port", str(port),
         "--max-batch", str(max_batch), "--threads", str(threads), "--max-queue", "256"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"workbench serve exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("workbench serve was not ready in 600 s")


async def load(url: str, model: str, files: list[bytes], clients: int, total: int) -> dict:
    """``clients`` concurrent clients sending ``total`` requests (clip i % len(files))."""
    latencies: list[float] = []
    texts: dict[int, str] = {}
    next_index = 0

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < total:
            i, next_index = next_index, next_index + 1
            start = time.perf_counter()
            r = await http.post(
                url + "/v1/audio/transcriptions",
                files={"file": (f"clip{i}.wav", files[i % len(files)], "audio/wav")},
                data={"model": model, "response_format": "json"},
            )
            latencies.append(time.perf_counter() - start)
            r.raise_for_status()
            texts[i] = r.json()["text"]

    async with httpx.AsyncClient(timeout=1200) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": total / wall,
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "texts": [texts[i] for i in range(total)],
    }


def faster_whisper_rps(name: str, paths: list[Path], total: int, threads: int) -> float:
    from faster_whisper import WhisperModel

    from workbench.audio import load_audio
    from workbench.models.bundled import BUNDLED, ct2_folder

    model = WhisperModel(
        str(ct2_folder(BUNDLED[name])), device="cpu", compute_type="int8", cpu_threads=threads
    )
    audios = [load_audio(p) for p in paths]

    def one(audio) -> str:
        segments, _ = model.transcribe(
            audio, beam_size=1, temperature=0.0, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False,
        )  # fmt: skip
        return " ".join(s.text.strip() for s in segments)

    one(audios[0])  # warm-up
    start = time.perf_counter()
    for i in range(total):
        one(audios[i % len(audios)])
    return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en", help="a bundled model")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=48, help="requests per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch/CTranslate2 threads")
    parser.add_argument(
        "--max-batch", type=int, default=8, help="the batched server's largest batch"
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    if args.max_batch < 2:
        parser.error("--max-batch: expected at least 2 (1 is the one-at-a-time server)")
    sys.path.insert(0, str(ROOT))
    spec = f"bundled:{args.model}"
    paths = clip_paths()
    files = [p.read_bytes() for p in paths]
    load_before = os.getloadavg()
    rows, texts = [], {}
    for max_batch in (args.max_batch, 1):
        proc, url = start_server(spec, max_batch, args.threads)
        try:
            asyncio.run(load(url, spec, files, 1, len(files)))  # warm-up, every clip once
            for clients in args.clients:
                result = asyncio.run(load(url, spec, files, clients, args.requests))
                texts[(max_batch, clients)] = result.pop("texts")
                rows.append({"max_batch": max_batch, "clients": clients, **result})
                print(
                    f"max-batch {max_batch:>2}, {clients:>2} clients: {result['rps']:.2f} req/s, "
                    f"p50 {result['p50']:.2f} s, p95 {result['p95']:.2f} s",
                    flush=True,
                )
            rows[-1]["batches"] = httpx.get(url + "/ready").json()["batches"]
        finally:
            proc.terminate()
            proc.wait(60)
    fw = faster_whisper_rps(args.model, paths, args.requests, args.threads)
    load_after = os.getloadavg()
    by = {(r["max_batch"], r["clients"]): r for r in rows}
    reference = texts[(1, args.clients[0])]
    print(
        f"\n{spec}, {len(paths)} real clips, {args.requests} requests a row, "
        f"{args.threads} thread(s); load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after (uptime), {os.cpu_count()} CPUs"
    )
    print("| clients | batched req/s | p50 s | p95 s | one-at-a-time req/s | p50 s | p95 s "
          "| batched / one-at-a-time | batched / faster-whisper int8 | same texts |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for clients in args.clients:
        b, o = by[(args.max_batch, clients)], by[(1, clients)]
        same = sum(x == y for x, y in zip(texts[(args.max_batch, clients)], reference, strict=True))
        print(
            f"| {clients} | {b['rps']:.2f} | {b['p50']:.2f} | {b['p95']:.2f} | {o['rps']:.2f} "
            f"| {o['p50']:.2f} | {o['p95']:.2f} | {b['rps'] / o['rps']:.2f} "
            f"| {b['rps'] / fw:.2f} | {same}/{args.requests} |"
        )
    print(f"\nfaster-whisper int8, one clip after another: {fw:.2f} req/s")
    if args.out:
        args.out.write_text(
            json.dumps(
                {"rows": rows, "faster_whisper_int8_rps": fw, "load": [load_before, load_after]},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
