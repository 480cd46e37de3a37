"""Runs the tutorial notebooks from top to bottom; fails on the first error.

    python docs/tutorials/run_notebooks.py             # every notebook here (what `make test-docs` runs)
    python docs/tutorials/run_notebooks.py 02_why_gates.ipynb
    python docs/tutorials/run_notebooks.py --write     # also store the outputs in the notebooks

Each notebook runs in a fresh kernel of this Python (its `ipykernel`), in
this folder, with the repository root first on `PYTHONPATH` (the zoo of this
working tree, installed or not) and the environment of this process
(`ZOO_DATA_DIR` included). A notebook fails when a cell raises (its
assertions are its checks), when it runs longer than `--limit` seconds, when
the committed file lacks its outputs (the notebooks are committed executed,
figures included: refresh them with `--write`), when it is larger than
`--max-bytes`, or when it leaves a file in the repository (runs write to
temporary directories only). Prints each notebook's execution time.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import zmq
from nbclient import NotebookClient
from traitlets.config import Config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def repository_state():
    """`git status` of the working tree (None outside a git checkout): what a notebook must not change."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return set(out.splitlines())


def committed_outputs(notebook):
    """Why the notebook as committed is not a whole executed run, or None."""
    counts = [cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code"]
    if not counts or any(count is None for count in counts):
        return "some code cells have no outputs"
    if counts != list(range(1, len(counts) + 1)):
        return "its cells were not run once each, top to bottom"
    return None


def run(path, limit, write):
    notebook = nbformat.read(path, as_version=4)
    problem = committed_outputs(notebook)
    config = Config()
    if zmq.has("curve"):  # the kernel's sockets encrypted, where the kernel supports it (no warning about plain TCP)
        config.KernelManager.transport_encryption = "auto"
    client = NotebookClient(notebook, timeout=limit, kernel_name="python3", resources={"metadata": {"path": str(HERE)}},
                            record_timing=False,  # no timestamps in the stored notebooks
                            config=config)
    start = time.perf_counter()
    try:
        client.execute()  # raises CellExecutionError naming the cell and its traceback
    except Exception:
        failed = Path(tempfile.gettempdir()) / f"failed-{path.name}"
        nbformat.write(notebook, failed)  # the outputs up to the failing cell
        print(f"{path.name}: the notebook as far as it ran: {failed}", flush=True)
        raise
    seconds = time.perf_counter() - start
    if write:
        nbformat.write(notebook, path)
        problem = None
    return seconds, problem


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: every *.ipynb in docs/tutorials)")
    parser.add_argument("--write", action="store_true", help="store the executed notebooks, outputs included")
    parser.add_argument("--limit", type=float, default=480.0,
                        help="seconds a notebook may run (each is meant to take about 3 minutes on 2 cores)")
    parser.add_argument("--max-bytes", type=int, default=1_000_000, help="largest notebook file, outputs included")
    args = parser.parse_args()
    paths = [HERE / name for name in args.notebooks] or sorted(HERE.glob("*.ipynb"))
    if not paths:
        sys.exit(f"no notebooks in {HERE}")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    failures = []
    for path in paths:
        before = repository_state()
        print(f"{path.name}: running", flush=True)
        try:
            seconds, problem = run(path, args.limit, args.write)
        except Exception as error:  # noqa: BLE001  a failing cell: report it, run the others
            failures.append(path.name)
            print(f"{path.name}: FAILED\n{error}", flush=True)
            continue
        after = repository_state()
        if before is not None and after is not None:
            itself = f"docs/tutorials/{path.name}"  # which --write changes
            left = {line for line in after - before if not (args.write and line.endswith(itself))}
            if left:
                problem = f"it changed the repository: {sorted(left)}"
        size = path.stat().st_size
        if size > args.max_bytes:
            problem = f"{size:,} bytes, more than --max-bytes {args.max_bytes:,}"
        if seconds > args.limit:
            problem = f"ran {seconds:.0f} s, more than --limit {args.limit:.0f} s"
        print(f"{path.name}: {seconds:.0f} s, {size / 1e3:.0f} kB" + (f": FAILED, {problem}" if problem else ""),
              flush=True)
        if problem:
            failures.append(path.name)
    if failures:
        sys.exit(f"failed: {', '.join(failures)}")


if __name__ == "__main__":
    main()
