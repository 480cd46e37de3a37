"""Runs a script as N workers of one tf.distribute cluster on this machine.

    python -m zoo.launch --workers 2 recipes/translate.py --smoke

Each worker runs `python <script> <args...>` with a TF_CONFIG that names every
worker at 127.0.0.1:<free port> and its own index (worker 0 is the chief).
Their output is interleaved line by line, each line prefixed with
`[worker i]`. If a worker fails, the others are stopped at once (a
multi-worker step would wait for them forever); the exit status is that of
the first worker to fail, 0 if all succeed. On several machines, set TF_CONFIG
on each yourself and run the script directly (see docs/training.md).
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from zoo.checks import positive_int


def free_ports(n, host="127.0.0.1"):
    """`n` distinct ports free on `host` right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports, index, host="127.0.0.1"):
    return json.dumps(
        {
            "cluster": {"worker": [f"{host}:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def launch(command, workers, env=None, out=sys.stdout, timeout=None, grace=10.0):
    """Runs `command` (an argv list, after `python`) as `workers` workers;
    returns 0 or the exit status of the first worker that failed (124 if
    they were still running after `timeout` seconds)."""
    workers = positive_int("workers", workers)
    ports = free_ports(workers)
    lock = threading.Lock()
    processes, readers = [], []

    def relay(i, stream):
        for line in stream:
            with lock:
                out.write(f"[worker {i}] {line}")
                out.flush()

    failed = None  # index of the first worker to fail
    deadline = time.time() + timeout if timeout else None
    try:
        for i in range(workers):
            worker_env = {
                **os.environ,
                **(env or {}),
                "TF_CONFIG": tf_config(ports, i),
                "PYTHONUNBUFFERED": "1",
            }
            p = subprocess.Popen(
                [sys.executable, *command],
                env=worker_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            processes.append(p)
            with lock:
                out.write(f"[launch] worker {i}: pid {p.pid}\n")
            readers.append(
                threading.Thread(target=relay, args=(i, p.stdout), daemon=True)
            )
            readers[-1].start()
        while failed is None and any(p.poll() is None for p in processes):
            failed = next(
                (i for i, p in enumerate(processes) if p.poll() not in (None, 0)), None
            )
            if deadline and time.time() > deadline:
                out.write(
                    f"[launch] still running after {timeout} s; stopping every worker\n"
                )
                return 124
            time.sleep(0.1)
        if failed is None:
            failed = next((i for i, p in enumerate(processes) if p.returncode), None)
    finally:
        _stop(processes, grace)
        for r in readers:
            r.join(timeout=5)
    if failed is None:
        return 0
    status = _status(processes[failed].returncode)
    out.write(f"[launch] worker {failed} failed (exit status {status}); ")
    out.write("the others were stopped\n")
    out.flush()
    return status


def _status(returncode):
    return (
        128 - returncode if returncode < 0 else returncode
    )  # killed by signal n: 128 + n


def _stop(processes, grace):
    for p in processes:
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + grace
    for p in processes:
        try:
            p.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m zoo.launch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="number of worker processes (default 2)"
    )
    parser.add_argument(
        "command", nargs=argparse.REMAINDER, help="script and its arguments"
    )
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("give the script to run, e.g. recipes/translate.py --smoke")
    if args.workers < 1:
        parser.error(f"--workers must be a positive integer, got {args.workers}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    return launch(args.command, args.workers)


if __name__ == "__main__":
    sys.exit(main())
