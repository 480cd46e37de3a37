"""`zoo serve`: batching, limits and errors, graceful stops, answers equal to
the Python API's, and the page in a real headless browser.

The batching, error and stop tests serve stand-in models (no TensorFlow, a
second or so); the others share one server of the shipped models, each loaded
on its first request.
"""

import asyncio
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from zoo import serve  # noqa: E402
from zoo.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TRANSLATOR, CAPTIONER, GENERATOR = "lstm-seq2seq-attn", "sat-lstm-squeezenet", "char-gru"


def post_all(url, requests):
    """`[(path, keyword arguments of httpx's post)]`, all sent at once: the responses, in order."""

    async def send():
        async with httpx.AsyncClient(base_url=url, timeout=300) as client:
            return await asyncio.gather(*(client.post(path, **kwargs) for path, kwargs in requests))

    return asyncio.run(send())


def png(width, height, seed=0):
    """A PNG of random pixels (seed None: all grey, a small file)."""
    from PIL import Image

    pixels = (np.full((height, width, 3), 128, np.uint8) if seed is None
              else np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


# -- stand-in models: what each call received ---------------------------------------------


class FakeTranslator:
    def __init__(self, delay=0.0):
        self.calls, self.delay = [], delay

    def get_config(self):
        return {"attention": True}

    def translate(self, texts, beam_size=5, return_attention=False):
        self.calls.append((list(texts), beam_size))
        if "boom" in texts:  # as the API refuses a bad input: the whole call fails
            raise ValueError(f"`sentences[{texts.index('boom')}]` cannot be translated.")
        time.sleep(self.delay)
        found = [f"{text.upper()}/{beam_size}" for text in texts]
        if not return_attention:
            return found
        return found, [(["a", "</s>"], ["b", "</s>"], np.full((2, 2), 0.5)) for _ in texts]


class FakeCaptioner:
    def __init__(self):
        self.calls = []

    def caption(self, images, beam_size=3, return_attention=False):
        self.calls.append(len(images))
        return [f"{image.width}x{image.height}" for image in images]


class FakeGenerator:
    def generate(self, prompt, length, temperature=1.0, top_k=None, top_p=None, seed=None):
        return (prompt * length)[:length]

    def gates(self, text):
        return {"update": np.ones((len(text), 3), np.float32)}


LIMITS = serve.Limits(body_bytes=20_000, texts=4, text_chars=50, images=2, image_pixels=10_000, beam_size=8,
                      prompt_chars=20, length=100)


@pytest.fixture(scope="module")
def fake():
    """A server of stand-in models that waits 300 ms for a batch to fill, at most 8 items."""
    models = {TRANSLATOR: FakeTranslator(delay=0.05), CAPTIONER: FakeCaptioner(), GENERATOR: FakeGenerator()}
    server = serve.Server(list(models), max_wait_ms=300, max_batch=8, limits=LIMITS, loader=models.get)
    with serve.serving(server) as url:
        yield url, server, models


def test_concurrent_requests_with_the_same_options_share_one_call(fake):
    url, server, models = fake
    translator = models[TRANSLATOR]
    translator.calls.clear()
    texts = [f"satz {i}" for i in range(12)]
    responses = post_all(url, [("/translate", {"json": {"texts": [t], "beam_size": 1 + i % 2}})
                               for i, t in enumerate(texts)])
    assert [r.json()["translations"] for r in responses] == [[f"SATZ {i}/{1 + i % 2}"] for i in range(12)]
    # two option sets of 6 texts: a call each (a slow machine may split one), never a call per request
    assert 2 <= len(translator.calls) <= 4, translator.calls
    for called, beam_size in translator.calls:
        assert all(int(t.split()[1]) % 2 == beam_size - 1 for t in called)  # options are never mixed
    assert sorted(t for called, _ in translator.calls for t in called) == sorted(texts)


def test_a_call_holds_at_most_max_batch_texts(fake):
    url, server, models = fake
    translator = models[TRANSLATOR]
    translator.calls.clear()
    bodies = [{"texts": [f"a{i}", f"b{i}", f"c{i}"]} for i in range(6)]  # 18 texts, 3 a request
    responses = post_all(url, [("/translate", {"json": body}) for body in bodies])
    assert [r.json()["translations"] for r in responses] == [[t.upper() + "/5" for t in b["texts"]] for b in bodies]
    sizes = [len(called) for called, _ in translator.calls]
    assert sum(sizes) == 18 and max(sizes) <= 8 and len(sizes) < 6, sizes  # whole requests, joined


def test_a_bad_input_fails_its_own_request_only(fake):
    url, server, models = fake
    responses = post_all(url, [("/translate", {"json": {"texts": [t]}}) for t in ["eins", "boom", "zwei"]])
    assert [r.status_code for r in responses] == [200, 400, 200]
    assert responses[1].json() == {"error": "`sentences[0]` cannot be translated.", "field": "texts"}
    assert [responses[0].json()["translations"], responses[2].json()["translations"]] == [["EINS/5"], ["ZWEI/5"]]


def test_attention_and_captions_and_generation_answer_in_json(fake):
    url, server, models = fake
    translated, captioned, generated = post_all(url, [
        ("/translate", {"json": {"texts": ["x"], "attention": True}}),
        ("/caption", {"files": [("image", ("a.png", png(30, 20))), ("image", ("b.png", png(10, 40)))],
                      "data": {"beam_size": "2"}}),
        ("/generate", {"json": {"prompt": "ab", "length": 5, "seed": 3, "gates": True}}),
    ])
    assert translated.json()["attention"] == [{"source": ["a", "</s>"], "output": ["b", "</s>"],
                                               "weights": [[0.5, 0.5], [0.5, 0.5]]}]
    assert captioned.json() == {"model": CAPTIONER, "captions": ["30x20", "10x40"]}
    assert generated.json() == {"model": GENERATOR, "text": "ababa", "gates": {"update": [1.0] * 7}}
    raw = httpx.post(f"{url}/caption?beam_size=1", content=png(25, 25), headers={"Content-Type": "image/png"})
    assert raw.json()["captions"] == ["25x25"]


def bomb_header(width, height):
    """A PNG that declares `width` x `height` pixels and holds a few bytes of them:
    reading its size works, decoding it fails."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100)))


BAD_REQUESTS = [
    ("/translate", {"content": b"{not json"}, 400, "body"),
    ("/translate", {"json": ["texts"]}, 400, "body"),
    ("/translate", {"json": {"texts": ["x"], "beam": 2}}, 400, "beam"),
    ("/translate", {"json": {"texts": "x"}}, 400, "texts"),
    ("/translate", {"json": {"texts": []}}, 400, "texts"),
    ("/translate", {"json": {"texts": ["x"] * 5}}, 400, "texts"),
    ("/translate", {"json": {"texts": ["x", 3]}}, 400, "texts[1]"),
    ("/translate", {"json": {"texts": ["x" * 51]}}, 400, "texts[0]"),
    ("/translate", {"content": b'{"texts": ["\\ud800"]}'}, 400, "texts[0]"),
    ("/translate", {"json": {"texts": ["x"], "beam_size": 0}}, 400, "beam_size"),
    ("/translate", {"json": {"texts": ["x"], "beam_size": 9}}, 400, "beam_size"),
    ("/translate", {"json": {"texts": ["x"], "beam_size": True}}, 400, "beam_size"),
    ("/translate", {"json": {"texts": ["x"], "beam_size": "5"}}, 400, "beam_size"),
    ("/translate", {"json": {"texts": ["x"], "attention": "yes"}}, 400, "attention"),
    ("/translate", {"json": {"texts": ["x"], "model": "no-such-model"}}, 404, "model"),
    ("/translate", {"json": {"texts": ["x"], "model": GENERATOR}}, 400, "model"),
    ("/translate", {"content": b"x" * 20_001}, 413, "body"),
    ("/generate", {"json": {"prompt": ""}}, 400, "prompt"),
    ("/generate", {"json": {"prompt": "x" * 21}}, 400, "prompt"),
    ("/generate", {"json": {"length": 0}}, 400, "length"),
    ("/generate", {"json": {"length": 101}}, 400, "length"),
    ("/generate", {"content": b'{"temperature": NaN}'}, 400, "temperature"),
    ("/generate", {"json": {"temperature": -1}}, 400, "temperature"),
    ("/generate", {"json": {"seed": -1}}, 400, "seed"),
    ("/generate", {"json": {"top_p": 0}}, 400, "top_p"),
    ("/caption", {"json": {"image": "x"}}, 415, "image"),
    ("/caption", {"data": {"beam_size": "2"}}, 415, "image"),  # a form without files
    ("/caption", {"files": [("image", ("a.txt", b"not an image"))]}, 400, "image"),
    ("/caption", {"files": [("image", ("a.png", png(9, 9)))] * 3}, 400, "image"),
    ("/caption", {"files": [("image", ("a.png", png(9, 9))), ("image", ("b.png", b"GIF89a"))]}, 400, "image[1]"),
    ("/caption", {"files": [("image", ("a.png", png(101, 100, seed=None)))]}, 413, "image"),
    ("/caption", {"files": [("image", ("a.png", png(9, 9)))], "data": {"beam_size": "x"}}, 400, "beam_size"),
    ("/caption", {"files": [("photo", ("a.png", png(9, 9)))]}, 400, "photo"),
]


@pytest.mark.parametrize("path, request_, status, field", BAD_REQUESTS,
                         ids=[f"{p} {f} {s}" for p, _, s, f in BAD_REQUESTS])
def test_a_bad_request_is_a_4xx_naming_the_field_and_the_server_keeps_serving(fake, path, request_, status, field):
    url, server, models = fake
    response = httpx.post(url + path, **request_)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["field"] == field and isinstance(answer["error"], str) and answer["error"], answer
    assert httpx.post(f"{url}/translate", json={"texts": ["noch da"]}).json()["translations"] == ["NOCH DA/5"]


def test_image_size_is_checked_before_decoding(fake):
    url, server, models = fake
    small = httpx.post(f"{url}/caption", content=bomb_header(100, 100), headers={"Content-Type": "image/png"})
    assert small.status_code == 400 and "could not be decoded" in small.json()["error"]  # within the limit: decoded
    large = httpx.post(f"{url}/caption", content=bomb_header(1000, 1000), headers={"Content-Type": "image/png"})
    assert large.status_code == 413 and large.json()["field"] == "image"
    assert "1000 x 1000 = 1,000,000 pixels; at most 10,000" in large.json()["error"]  # refused before decoding


def test_a_streamed_body_is_cut_at_the_limit(fake):
    url, server, models = fake
    chunks = (b'{"texts": ["' + b"x" * 1000 for _ in range(30))  # chunked: no Content-Length to refuse
    answer = httpx.post(f"{url}/translate", content=chunks)
    assert answer.status_code == 413 and answer.json()["field"] == "body"


def test_health_models_page_and_unknown_routes(fake):
    url, server, models = fake
    assert httpx.get(f"{url}/health").json() == {"status": "ok", "models": {n: "loaded" for n in models}}
    listed = httpx.get(f"{url}/models").json()
    assert [m["name"] for m in listed["models"]] == list(models) and listed["max_batch"] == 8
    assert listed["limits"]["texts"] == 4
    assert 'id="attention-canvas"' in httpx.get(url).text
    missing = httpx.get(f"{url}/nothing")
    assert missing.status_code == 404 and missing.json()["field"] is None
    assert httpx.get(f"{url}/translate").status_code == 405


def test_health_is_503_until_the_named_models_are_loaded():
    loaded = threading.Event()

    def slow_loader(name):
        loaded.wait(30)
        return FakeTranslator()

    with serve.serving(serve.Server([TRANSLATOR], loader=slow_loader)) as url:
        assert httpx.get(f"{url}/health").status_code == 503
        loaded.set()
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{url}/health").json()["models"] == {TRANSLATOR: "loaded"}


def test_a_model_that_fails_to_load_is_a_503_naming_why():
    def broken(name):
        raise ValueError("weights.npz is corrupt")

    with serve.serving(serve.Server([TRANSLATOR], loader=broken)) as url:
        answer = httpx.post(f"{url}/translate", json={"texts": ["x"]})
        assert answer.status_code == 503 and "weights.npz is corrupt" in answer.json()["error"]
        assert httpx.get(f"{url}/health").json()["status"] == "failed"


@pytest.mark.parametrize("arguments, error, words", [
    ({"names": "char-gru"}, TypeError, ["`names` must be a list", "['char-gru']"]),
    ({"names": ["no-such-model"]}, ValueError, ["Unknown model name 'no-such-model'"]),
    ({"names": ["lstm-squeezenet"]}, ValueError, ["No trained model ships for 'lstm-squeezenet'"]),
    ({"names": []}, ValueError, ["`names` must name at least one"]),
    ({"max_batch": 0}, ValueError, ["`max_batch` must be an integer in [1, 4096], got 0"]),
    ({"max_wait_ms": float("nan")}, ValueError, ["`max_wait_ms` must be a finite number in [0, 10000]"]),
    ({"limits": {"texts": 4}}, TypeError, ["`limits` must be a zoo.serve.Limits"]),
])
def test_the_server_checks_its_arguments(arguments, error, words):
    with pytest.raises(error) as caught:
        serve.Server(**arguments)
    assert all(word in str(caught.value) for word in words), caught.value


@pytest.mark.parametrize("argv, words", [
    (["serve", "no-such-model"], ["Unknown model name 'no-such-model'"]),
    (["serve", "lstm-squeezenet"], ["No trained model ships for 'lstm-squeezenet'"]),
    (["serve", "--port", "70000"], ["--port", "70000"]),
    (["serve", "--max-batch", "0"], ["--max-batch", "positive integer"]),
    (["serve", "--max-wait-ms", "-1"], ["--max-wait-ms", "[0, 10000]"]),
])
def test_a_mistaken_serve_command_is_one_line(argv, words, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("zoo serve: error:"), err
    assert all(word in err for word in words), err


# -- a stop finishes the requests in flight ---------------------------------------------------


STOPPABLE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from zoo import serve

    class Slow:  # a translation that takes 2 s, and says when it started
        def translate(self, texts, beam_size=5, return_attention=False):
            Path(sys.argv[2]).touch()
            time.sleep(2)
            return [t.upper() for t in texts]

    serve.run(serve.Server(["lstm-seq2seq-attn"], loader=lambda name: Slow()), port=int(sys.argv[1]))
    print("returned")
""")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_finishes_the_requests_in_flight_then_stops(stop, tmp_path):
    port, started = free_port(), tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", STOPPABLE, str(port), str(started)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        answers = []
        request = threading.Thread(target=lambda: answers.append(
            httpx.post(f"{url}/translate", json={"texts": ["im flug"]}, timeout=60)))
        request.start()
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(stop)
        request.join(60)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert answers and answers[0].status_code == 200 and answers[0].json()["translations"] == ["IM FLUG"], err
    assert process.returncode == 0 and out == "returned\n", err
    assert "Shutting down" in err and "Traceback" not in err, err


# -- the shipped models: answers equal to the Python API's --------------------------------


GERMAN = [
    "Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee.", "Eine Frau mit rotem Hut liest ein Buch.",
    "Ein kleines Mädchen klettert in ein Spielhaus aus Holz.", "Ein Mann schläft.", "",
    "Drei Personen sitzen in einer Höhle.", "Ein Hund rennt. Eine Katze schläft auf dem Sofa.",
    "Ein Junge in einem roten Trikot springt ins Wasser.", "Menschen stehen vor einem Gebäude.",
]


@pytest.fixture(scope="module")
def shipped():
    """Every shipped model, each loaded on its first request, batches gathered for up to 20 ms."""
    pytest.importorskip("tensorflow")
    server = serve.Server(max_wait_ms=20)
    with serve.serving(server) as url:
        yield url, server


def test_all_shipped_models_are_served_lazily(shipped):
    import zoo

    url, server = shipped
    names = [m["name"] for m in httpx.get(f"{url}/models").json()["models"]]
    assert names == [n for n in zoo.list_models() if zoo.info(n)["card"] is not None]
    assert httpx.get(f"{url}/health").status_code == 200  # lazily: ready before anything is loaded


def test_concurrent_translations_are_those_of_the_python_api_one_text_at_a_time(shipped):
    url, server = shipped
    requests = [(text, beam_size) for beam_size in (1, 3) for text in GERMAN + GERMAN[:4]]
    responses = post_all(url, [("/translate", {"json": {"model": TRANSLATOR, "texts": [text], "beam_size": k}})
                               for text, k in requests])
    worker = server.workers[TRANSLATOR]
    assert worker.calls < len(requests)  # joined into batches
    model = worker.model  # the server is idle now: its model answers the test's own calls
    expected = [[model.translate(text, beam_size=k)] for text, k in requests]
    assert [r.json()["translations"] for r in responses] == expected


def test_translation_attention_is_the_python_apis(shipped):
    url, server = shipped
    texts = GERMAN[:2]
    answer = httpx.post(f"{url}/translate", json={"texts": texts, "beam_size": 1, "attention": True}, timeout=300)
    found, maps = server.workers[TRANSLATOR].model.translate(texts, beam_size=1, return_attention=True)
    assert answer.json()["translations"] == found
    for sent, (source, output, weights) in zip(answer.json()["attention"], maps):
        assert sent["source"] == source and sent["output"] == output
        np.testing.assert_allclose(sent["weights"], weights, atol=1e-4)
        np.testing.assert_allclose(np.sum(sent["weights"], axis=1), 1, atol=1e-3)  # a distribution per output piece


def test_a_model_without_attention_answers_null_attention(shipped):
    url, server = shipped
    answer = httpx.post(f"{url}/translate", json={"model": "lstm-seq2seq", "texts": GERMAN[:2], "attention": True},
                        timeout=300)
    assert answer.status_code == 200, answer.text
    model = server.workers["lstm-seq2seq"].model
    assert answer.json() == {"model": "lstm-seq2seq", "translations": model.translate(GERMAN[:2]),
                             "attention": [None, None]}


# Alone, its greedy translation runs on until the limit of 2 x its 14 source tokens + 10;
# batched with a longer text, the limit is the longer text's and the run goes on further.
RUNAWAY = "Ein Koch posiert beim Kochen für die Kamera."


def test_a_translation_that_runs_to_the_length_limit_is_cut_as_alone(shipped):
    url, server = shipped
    longer = "Ein Mann in einem blauen Hemd steht auf einer Leiter und putzt die Fenster eines hohen Gebäudes."
    answer = httpx.post(f"{url}/translate", json={"texts": [RUNAWAY, longer], "beam_size": 1}, timeout=300)
    model = server.workers[TRANSLATOR].model
    assert answer.json()["translations"][0] == model.translate(RUNAWAY, beam_size=1)


def test_captions_are_those_of_the_python_api(shipped):
    url, server = shipped
    images = [png(64, 48, seed=1), png(40, 80, seed=2)]
    form, raw = post_all(url, [
        ("/caption", {"files": [("image", ("a.png", images[0])), ("image", ("b.png", images[1]))],
                      "data": {"model": CAPTIONER, "attention": "true"}}),
        ("/caption", {"content": images[1], "headers": {"Content-Type": "image/png"},
                      "params": {"model": CAPTIONER, "beam_size": 1}}),
    ])
    model = server.workers[CAPTIONER].model
    captions, maps = model.caption(images, beam_size=3, return_attention=True)
    assert form.json()["captions"] == captions
    assert raw.json()["captions"] == [model.caption(images[1], beam_size=1)]
    for sent, (words, weights) in zip(form.json()["attention"], maps):
        assert sent["words"] == words
        np.testing.assert_allclose(sent["weights"], weights, atol=1e-4)  # [words, h, w]


def test_generation_is_the_python_apis_with_its_gates(shipped):
    url, server = shipped
    body = {"model": GENERATOR, "prompt": "ROMEO:", "length": 40, "temperature": 0.8, "seed": 7, "gates": True}
    answer = httpx.post(f"{url}/generate", json=body, timeout=300).json()
    model = server.workers[GENERATOR].model
    assert answer["text"] == model.generate("ROMEO:", 40, temperature=0.8, seed=7)
    gates = model.gates("ROMEO:" + answer["text"])
    assert set(answer["gates"]) == set(gates)
    for name, values in gates.items():
        np.testing.assert_allclose(answer["gates"][name], values.mean(-1), atol=1e-4)


# -- the page, in a real browser ----------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000"]


@pytest.fixture
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("no headless browser: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    with tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def wait_until(driver, condition, seconds=300):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(lambda d: condition(d))


# Non-white pixels of a canvas, counted in the page.
INKED = """const c = document.getElementById(arguments[0]);
if (!c.width || !c.height) return 0;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (d[i] < 230 || d[i + 1] < 230 || d[i + 2] < 230) n++;
return n;"""


def test_the_page_translates_and_draws_the_attention_matrix(shipped, browser):
    from selenium.webdriver.common.by import By

    url, server = shipped
    browser.get(url)
    wait_until(browser, lambda d: d.find_element(By.ID, "translate-model").get_attribute("value") == TRANSLATOR, 30)
    box = browser.find_element(By.ID, "translate-text")
    box.clear()
    box.send_keys("Zwei Hunde spielen im Schnee.")
    browser.find_element(By.ID, "translate-button").click()
    wait_until(browser, lambda d: d.find_element(By.ID, "translation").text not in ("", "translating..."))
    expected = server.workers[TRANSLATOR].model.translate("Zwei Hunde spielen im Schnee.", beam_size=5)
    assert browser.find_element(By.ID, "translation").text == expected
    answer = httpx.post(f"{url}/translate", json={"texts": ["Zwei Hunde spielen im Schnee."], "attention": True})
    weights = answer.json()["attention"][0]["weights"]
    canvas = browser.find_element(By.ID, "attention-canvas")
    assert int(canvas.get_attribute("data-cells")) == len(weights) * len(weights[0])
    assert browser.execute_script(INKED, "attention-canvas") > 26 * 26 * len(weights)  # cells and labels


def test_the_page_generates_text_on_its_gate_activations(shipped, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, server = shipped
    browser.get(url)
    wait_until(browser, lambda d: d.find_element(By.ID, "generate-model").get_attribute("value"), 30)
    Select(browser.find_element(By.ID, "generate-model")).select_by_value(GENERATOR)
    length = browser.find_element(By.ID, "generate-length")
    length.clear()
    length.send_keys("60")
    browser.find_element(By.ID, "generate-button").click()
    wait_until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#generated span")) > 0)
    spans = browser.find_elements(By.CSS_SELECTOR, "#generated span")
    expected = server.workers[GENERATOR].model.generate("ROMEO:", 60, temperature=0.8, seed=1)
    assert "".join(s.get_attribute("textContent") for s in spans) == "ROMEO:" + expected
    shades = {s.value_of_css_property("background-color") for s in spans}
    assert len(shades) > 5  # each character on its own gate value
    assert browser.find_element(By.ID, "generate-gate").get_attribute("value") in ("update", "reset", "candidate")


def test_the_page_captions_a_photo_with_each_words_attention(shipped, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, server = shipped
    photo = tmp_path / "photo.png"
    photo.write_bytes(png(96, 64, seed=3))
    browser.get(url)
    wait_until(browser, lambda d: d.find_element(By.ID, "caption-model").get_attribute("value") == CAPTIONER, 30)
    browser.find_element(By.ID, "caption-file").send_keys(str(photo))
    browser.find_element(By.ID, "caption-button").click()
    wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#caption-maps figure"))
    words, _ = server.workers[CAPTIONER].model.caption(photo.read_bytes(), beam_size=3, return_attention=True)[1]
    figures = browser.find_elements(By.CSS_SELECTOR, "#caption-maps figure")
    assert [f.find_element(By.TAG_NAME, "figcaption").text for f in figures] == words
    inked = browser.execute_script("return [...document.querySelectorAll('#caption-maps canvas')].map(c => {"
                                   "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                                   "return new Set(Array.from({length: d.length / 4}, (_, i) => d[4 * i])).size; })")
    assert len(inked) == len(words) and min(inked) > 10  # the photo under each word's map, not a blank square
