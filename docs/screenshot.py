"""Screenshots of TensorBoard showing the shipped models' training runs, for the README.

    python docs/screenshot.py [--logdir saved_models] [--out docs/tensorboard.png] [--dashboard hparams]

Starts `tensorboard --logdir LOGDIR` on a free local port, waits until it
answers, and has headless Chromium (`apt-get install chromium`) render the
dashboard into a PNG; TensorBoard is stopped afterwards.
"""

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_for(url, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"TensorBoard did not answer at {url} within {seconds} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logdir", default=str(ROOT / "saved_models"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "tensorboard.png"))
    parser.add_argument("--dashboard", default="hparams", help="the URL part after '#': hparams, timeseries, ...")
    parser.add_argument("--size", default="1500,800", help="window width,height in pixels")
    parser.add_argument("--wait", type=int, default=20, help="seconds the page may take to render")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium not found: apt-get install chromium")
    port = free_port()
    tensorboard = Path(sys.executable).with_name("tensorboard")
    server = subprocess.Popen([str(tensorboard), "--logdir", args.logdir, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://localhost:{port}/")
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={args.size}",
                            f"--virtual-time-budget={args.wait * 1000}", f"--screenshot={args.out}",
                            f"http://localhost:{port}/#{args.dashboard}"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=args.wait + 60)
    finally:
        server.terminate()
        server.wait()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
