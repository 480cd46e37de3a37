"""`zoo serve` under load: dynamic batching against one request per model call.

    python benchmarks/serve.py              # 1, 8 and 64 clients, batching on and off
    python benchmarks/serve.py --soak 3     # then 3 minutes of 64 clients with 5% malformed requests

N concurrent clients (one asyncio process, each with a request in flight at
any time) send single Multi30k de-en test_2016_flickr sentences to `zoo serve
lstm-seq2seq-attn`, greedy (`beam_size` 1), to a server started with
`zoo serve`'s defaults, `--max-batch 32 --max-wait-ms 5` (batching on), and
one started with `--max-batch 1` (every request its own call of
`model.translate`). Each server is warmed up with 64 requests first (the
compiled search is traced then). Each row gives sentences/s, the
p50/p99 latency, the sentences per model call (from `/models`), and the
answers that differ from `model.translate(sentence, beam_size=1)` called one
sentence at a time in this process, after the servers have stopped.

`--soak MINUTES` starts a fresh batching server, warms it up for a minute of
the same traffic, then runs 64 clients for MINUTES with 5% malformed requests
(bad JSON, unknown fields, wrong types, values out of range, a lone
surrogate, bodies over the size limit), and reports the answers by status
class (a 5xx or a dropped connection is a failure), differing answers, and
the server's resident memory after the warm-up and after the soak.

Targets: at 64 clients at least 3x the sentences/s of batching off with a p99
under 1 s; no differing answers; no 5xx in the soak, and memory after it
within 10% of memory after the warm-up.
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from zoo.data.translation import load_pairs  # noqa: E402

MODEL = "lstm-seq2seq-attn"
# Malformed requests of the soak: (content, expected status); each is refused with a 4xx.
MALFORMED = [
    (b"{not json", 400),
    (b'["a list"]', 400),
    (b'{"texts": ["Ein Hund."], "beam": 1}', 400),
    (b'{"texts": "Ein Hund."}', 400),
    (b'{"texts": []}', 400),
    (json.dumps({"texts": ["x"] * 65}).encode(), 400),
    (json.dumps({"texts": ["x" * 2001]}).encode(), 400),
    (b'{"texts": ["\\ud800"]}', 400),
    (b'{"texts": ["Ein Hund."], "beam_size": 0}', 400),
    (b'{"texts": ["Ein Hund."], "beam_size": NaN}', 400),
    (b'{"texts": ["Ein Hund."], "model": "char-lstm"}', 404),
    (b"x" * (10 * 2**20 + 1), 413),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`zoo serve MODEL` in a subprocess, stopped with SIGTERM on exit."""

    def __init__(self, max_batch, max_wait_ms):
        self.port, self.log = free_port(), tempfile.NamedTemporaryFile("w+", suffix=".log")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "zoo", "serve", MODEL, "--port", str(self.port),
                   "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms)]
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.log.seek(0)
        raise SystemExit(f"zoo serve did not become ready:\n{self.log.read()[-3000:]}")

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)
        self.log.close()

    def calls(self):
        return next(m["calls"] for m in httpx.get(f"{self.url}/models").json()["models"] if m["name"] == MODEL)

    def rss_mib(self):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise OSError("no VmRSS in /proc: the memory figure needs Linux")


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams: the clients' side
    stays small (httpx's async pool, at 64 requests in flight, took more CPU than
    the server and set the pace)."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.streams = parts.hostname, parts.port, None

    async def post(self, path, body):
        """`(status, body)`; reconnects where the server closed the connection."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
            headers = dict(line.split(":", 1) for line in head[1:] if ":" in line)
            answer = await reader.readexactly(int(headers["content-length"]))
        except (OSError, asyncio.IncompleteReadError, KeyError):
            await self.close()
            raise
        if headers.get("connection", "").strip() == "close":
            await self.close()
        return int(head[0].split()[1]), answer

    async def close(self):
        if self.streams:
            self.streams[1].close()
            self.streams = None


async def load(url, clients, sentences, requests=None, seconds=None, malformed=0.0, seed=0):
    """`clients` closed-loop clients until `requests` are answered (or
    `seconds` pass): `{"latencies", "answers": [(sentence, translation)],
    "statuses": {class: count}, "seconds"}`."""
    rng, counter = random.Random(seed), itertools.count()
    latencies, answers, statuses = [], [], {}
    start = time.perf_counter()
    stop = start + seconds if seconds else None

    def count(status):
        statuses[status] = statuses.get(status, 0) + 1

    async def client():
        connection = Connection(url)
        while True:
            i = next(counter)
            if (requests is not None and i >= requests) or (stop and time.perf_counter() >= stop):
                return await connection.close()
            bad = rng.random() < malformed
            if bad:
                body, expected = rng.choice(MALFORMED)
            else:
                sentence = sentences[i % len(sentences)]
                body = json.dumps({"model": MODEL, "texts": [sentence], "beam_size": 1}).encode()
            sent = time.perf_counter()
            try:
                status, answer = await connection.post("/translate", body)
            except (OSError, asyncio.IncompleteReadError, KeyError):
                count("dropped")
                continue
            count(f"{status // 100}xx")
            if bad and status // 100 == 4 and status != expected:
                count("unexpected 4xx")
            elif not bad and status == 200:
                latencies.append(time.perf_counter() - sent)
                answers.append((sentence, json.loads(answer)["translations"][0]))

    await asyncio.gather(*(client() for _ in range(clients)))
    return {"latencies": latencies, "answers": answers, "statuses": statuses,
            "seconds": time.perf_counter() - start}


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--requests", type=int, default=8, help="sentences per client (at least 64 a row)")
    parser.add_argument("--max-batch", type=int, default=32, help="the batching server's (default: 32)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="the batching server's (default: 5)")
    parser.add_argument("--no-off", action="store_true", help="skip the server without batching")
    parser.add_argument("--soak", type=float, default=0, metavar="MINUTES", help="also run the soak for this long")
    parser.add_argument("--warm-up", type=float, default=60, metavar="SECONDS", help="the soak's (default: 60)")
    args = parser.parse_args(argv)
    sentences = load_pairs("de-en", "test")[0]
    rows, answered = [], []

    for label, max_batch in [("on", args.max_batch)] + ([] if args.no_off else [("off", 1)]):
        with Served(max_batch, args.max_wait_ms) as served:
            asyncio.run(load(served.url, 8, sentences[-64:], requests=64))  # traces the search, fills caches
            for clients in args.clients:
                calls = served.calls()
                run = asyncio.run(load(served.url, clients, sentences, requests=max(64, clients * args.requests)))
                answered += run["answers"]
                n = len(run["answers"])
                rows.append({"clients": clients, "batching": label, "sentences/s": n / run["seconds"],
                             "p50 ms": 1000 * statistics.median(run["latencies"]),
                             "p99 ms": 1000 * percentile(run["latencies"], 99),
                             "per call": n / max(1, served.calls() - calls), "answers": n,
                             "failed": sum(v for k, v in run["statuses"].items() if k != "2xx")})
                print(f"  {clients} clients, batching {label}: {rows[-1]['sentences/s']:.1f} sentences/s",
                      file=sys.stderr)

    soak = None
    if args.soak:
        with Served(args.max_batch, args.max_wait_ms) as served:
            print(f"  soak: warm-up {args.warm_up:.0f} s, then {args.soak:g} min", file=sys.stderr)
            warm = asyncio.run(load(served.url, 64, sentences, seconds=args.warm_up, malformed=0.05, seed=1))
            before = served.rss_mib()
            soaked = asyncio.run(load(served.url, 64, sentences, seconds=60 * args.soak, malformed=0.05, seed=2))
            after = served.rss_mib()
        answered += warm["answers"] + soaked["answers"]
        soak = {"statuses": soaked["statuses"], "before": before, "after": after, "answers": soaked["answers"],
                "seconds": soaked["seconds"]}

    import zoo  # TensorFlow only now: the servers had the machine to themselves

    model = zoo.load(MODEL)
    reference = {s: model.translate(s, beam_size=1) for s in sorted({s for s, _ in answered})}
    differing = {label: sum(reference[s] != t for s, t in answers)
                 for label, answers in [("all", answered)] + ([("soak", soak["answers"])] if soak else [])}

    print(f"zoo serve {MODEL}, greedy, single-sentence requests (Multi30k de-en test_2016_flickr); "
          f"batching on: --max-batch {args.max_batch} --max-wait-ms {args.max_wait_ms:g}; off: --max-batch 1")
    print()
    print("| clients | batching | sentences/s | p50 ms | p99 ms | sentences per call | answers | failed |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['batching']} | {r['sentences/s']:.1f} | {r['p50 ms']:.0f} | {r['p99 ms']:.0f} "
              f"| {r['per call']:.1f} | {r['answers']} | {r['failed']} |")
    print()
    most = max(args.clients)
    on = next(r for r in rows if r["clients"] == most and r["batching"] == "on")
    off = next((r for r in rows if r["clients"] == most and r["batching"] == "off"), None)
    speedup = on["sentences/s"] / off["sentences/s"] if off else float("nan")
    print(f"{most} clients: {speedup:.1f}x the sentences/s of batching off (target >= 3: "
          f"{'met' if speedup >= 3 else 'NOT met'}), p99 {on['p99 ms']:.0f} ms (target < 1000 ms: "
          f"{'met' if on['p99 ms'] < 1000 else 'NOT met'})")
    print(f"answers that differ from model.translate one sentence at a time: {differing['all']} of {len(answered)}"
          f" (target 0: {'met' if differing['all'] == 0 else 'NOT met'})")
    for sentence in sorted({s for s, t in answered if reference[s] != t})[:5]:
        served_as = next(t for s, t in answered if s == sentence and reference[s] != t)
        print(f"  {sentence!r}: alone {reference[sentence]!r:.80}, served {served_as!r:.80}")
    if soak:
        statuses = soak["statuses"]
        failures = statuses.get("5xx", 0) + statuses.get("dropped", 0)
        change = soak["after"] / soak["before"] - 1
        print(f"soak: {soak['seconds'] / 60:.1f} min of 64 clients, 5% malformed: "
              + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
              + f"; 5xx or dropped: {failures} (target 0: {'met' if failures == 0 else 'NOT met'}); "
              f"differing answers {differing['soak']}")
        within = "met" if abs(change) <= 0.1 else "NOT met"
        print(f"soak: server RSS {soak['before']:.0f} MiB after a {args.warm_up:.0f} s warm-up, {soak['after']:.0f} "
              f"MiB after the soak ({100 * change:+.1f}%; target within 10%: {within})")


if __name__ == "__main__":
    main()
