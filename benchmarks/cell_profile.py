"""Where a training step of an LSTM/GRU layer spends its time, op by op:
Keras's fused layout against the zoo's per-gate cell.

    python benchmarks/cell_profile.py                                # LSTM, (64, 50, 128, 256) and (128, 50, 256, 512)
    python benchmarks/cell_profile.py --cell gru --shapes 64,50,128,256

The same step as `benchmarks/cells.py` (forward + backward + Adam on a
`return_sequences` layer) runs under TensorFlow's profiler for `--steps`
steps per variant, one variant after the other; the trace is read back
(`XSpace` protobuf) and the time of every TensorFlow op, summed over the
compute threads, is put in a role by its name:

  x W / h U            the forward matmuls (Keras: one `[B, D] x [D, G*H]` and
                       one `[B, H] x [H, G*H]` per step; zoo: one per gate each)
  d h (through U)      the backward matmul giving the gradient of `h`
  d U, d W             the backward matmuls giving the weights' gradients at
                       one step ...
  AddN (sum over steps)  ... and their sum over the steps (plus the other
                       gradient sums)
  split / concat       Keras's split (or slices) of `[B, G*H]` into gates, and
                       its gradient
  bias                 bias adds and their gradients (a bias fused into its
                       matmul by TensorFlow's graph rewrite counts as the matmul)
  other                the gates' activations, products, the loop's
                       TensorLists, Adam

and beside the total op time, the wall time of a profiled step and their
ratio: how many ops ran at once, on average, on the two cores.

Profiling adds a fixed cost to every op, so the zoo (four times as many
matmuls) is charged more by it than the unprofiled ratios of `cells.py`.
Milliseconds per training step.
"""

import argparse
import collections
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cells import VARIANTS, parse_shape, step_fns  # noqa: E402

ROLES = ["x W", "h U", "x W or h U, its bias fused in", "d h (through U)", "d U", "d W", "AddN (sum over steps)",
         "split / concat", "bias", "other"]
SLICING = ("Split", "SplitV", "ConcatV2", "StridedSlice", "StridedSliceGrad")


def role(name):
    """The role of a TensorFlow op from its `scope/.../name:Type` trace name."""
    op, kind = name.rsplit(":", 1) if ":" in name else (name, "")
    if kind in ("MatMul", "_MklMatMul", "_FusedMatMul", "_MklFusedMatMul", "_MklNativeFusedMatMul"):
        found = re.search(r"MatMul(?:_(\d+))?(_grad/MatMul(_1)?)?$", op)
        if not found:  # TensorFlow's rewrite fused an add into it and kept the add's name
            return "x W or h U, its bias fused in" if "Fused" in kind else "other"
        index, grad, of_weight = found.groups()
        recurrent = int(index or 0) % 2 == 1  # each cell writes x @ W, then h @ U (per gate for the zoo)
        if not grad:
            return "h U" if recurrent else "x W"
        if of_weight:
            return "d U" if recurrent else "d W"
        return "d h (through U)" if recurrent else "other"  # d x is not needed: x is no variable
    if kind == "AddN":
        return "AddN (sum over steps)"
    if kind in SLICING and re.search(r"(lstm|gru)_cell", op):
        return "split / concat"
    if kind in ("BiasAdd", "BiasAddGrad"):
        return "bias"
    return "other"


def profile(step, steps):
    """{role: ms per step} of `steps` calls of the compiled `step`."""
    step()
    step()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            step().numpy()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    totals, start, end = collections.Counter(), float("inf"), 0
    for line in plane.lines:
        if not line.name.startswith("tf_Compute"):  # the TensorFlow op threads (not Python, not Eigen's pool)
            continue
        for event in line.events:
            start = min(start, line.timestamp_ns * 1000 + event.offset_ps)
            end = max(end, line.timestamp_ns * 1000 + event.offset_ps + event.duration_ps)
        # Self time: an op's span less the ops inside it (a while loop holds its body's ops).
        events = sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps))
        self_ps, open_ = {}, []
        for k, event in enumerate(events):
            while open_ and events[open_[-1]].offset_ps + events[open_[-1]].duration_ps <= event.offset_ps:
                open_.pop()
            if open_:
                self_ps[open_[-1]] -= event.duration_ps
            self_ps[k] = event.duration_ps
            open_.append(k)
        for k, event in enumerate(events):
            name = plane.event_metadata[event.metadata_id].name
            if ":" in name and "::" not in name:  # an op (not the executor's own events)
                totals[role(name)] += max(self_ps[k], 0) / 1e9 / steps
    totals["wall"] = (end - start) / 1e9 / steps
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", choices=sorted(VARIANTS), default="lstm")
    parser.add_argument("--shapes", type=parse_shape, nargs="+", metavar="B,T,D,H",
                        default=[(64, 50, 128, 256), (128, 50, 256, 512)])
    parser.add_argument("--steps", type=int, default=5, help="profiled steps per variant")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; ms per training step, "
          f"op time summed over TensorFlow's compute threads, {args.steps} profiled steps\n")
    for batch, steps, features, units in args.shapes:
        found = {name: profile(step_fns(make(units), batch, steps, features)[1], args.steps)
                 for name, make in VARIANTS[args.cell].items()}
        print(f"| {args.cell.upper()} {batch}, {steps}, {features}, {units} | " + " | ".join(found) + " |")
        print("|---|" + "---:|" * len(found))
        for r in ROLES + ["total op time", "wall time (profiled)", "ops at once (total / wall)"]:
            cells = [sum(t[k] for k in ROLES) if r == "total op time" else t["wall"] if r.startswith("wall") else
                     sum(t[k] for k in ROLES) / t["wall"] if r.startswith("ops at once") else t[r]
                     for t in found.values()]
            print(f"| {r} | " + " | ".join(f"{c:.{2 if r.startswith('ops') else 1}f}" for c in cells) + " |")
        print(flush=True)


if __name__ == "__main__":
    main()
