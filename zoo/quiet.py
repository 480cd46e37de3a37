"""TensorFlow start-up without the lines a user cannot act on.

Importing TensorFlow 2.21 on a CPU machine writes 6-8 lines to stderr before
anything useful happens: "WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR" (twice), INFO lines
about oneDNN and CUDA drivers (written before TensorFlow reads
`TF_CPP_MIN_LOG_LEVEL`, so that variable alone does not hide them), then, at the
first device query, `E0000 ... failed call to cuInit` on a machine that simply
has no GPU, and at the first model calls `E0000 ... oneDNN supports DT_BOOL only
on platforms with AVX-512` (or DT_INT32), ERROR lines about an internal fallback.

`quiet_tensorflow()` sets `TF_CPP_MIN_LOG_LEVEL=2` when it is unset, then
imports TensorFlow inside `filtered_stderr()`, which applies that level to the
lines TensorFlow prints before reading it and drops the ERROR lines above (the
cuInit one only when the machine has no GPU device file). Wrap the model work in
`filtered_stderr()` too to drop the oneDNN lines (the `zoo` command does). Everything else
written to stderr is kept, in order: Python warnings, TensorFlow warnings and
errors (when the level allows them), tracebacks. `TF_CPP_MIN_LOG_LEVEL=0` turns
all filtering off.

`one_line_warnings(prefix)` is a `warnings.showwarning` for a user: each
warning once, as one line, without Python's file and source line.
"""

import contextlib
import glob
import os
import re
import sys
import threading

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"

# absl / TensorFlow C++ log records: "I0000 00:00:1796184855.137424    4892 port.cc:153] message"
_RECORD = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ [^\s\]]+:\d+\] (.*)$")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_LITERT_INFO = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."  # once per LiteRT interpreter
_NOT_AN_ERROR = re.compile(r"oneDNN supports DT_\w+ only on platforms with AVX-512")
_NO_GPU = ("failed call to cuInit",)
_GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia[0-9]*", "/dev/dxg", "/dev/kfd")


def gpu_device_files():
    """Device files of an NVIDIA (or WSL, ROCm) GPU driver on this machine."""
    return [path for pattern in _GPU_DEVICE_FILES for path in glob.glob(pattern)]


def log_level():
    """`TF_CPP_MIN_LOG_LEVEL` as TensorFlow reads it: 0 (everything) to 3 (fatal only)."""
    try:
        return min(max(int(os.environ.get(LEVEL_ENV, "0")), 0), 3)
    except ValueError:
        return 0


def is_noise(line, level=None, gpu_files=None):
    """Whether a stderr `line` is TensorFlow start-up noise at log `level`.

    Noise: absl's preamble, LiteRT's "Created ... XNNPACK delegate" line,
    records below `level` (INFO at 1, WARNING at 2, ERROR at 3), the oneDNN
    "supports DT_... only" ERROR records, and the cuInit ERROR record when
    there are no GPU device files. Nothing is noise at level 0.
    """
    level = log_level() if level is None else level
    if level == 0:
        return False
    line = line.rstrip("\r\n")
    if line == _ABSL_PREAMBLE:
        return True
    if line == _LITERT_INFO:
        return True
    match = _RECORD.match(line)
    if not match:
        return False
    severity, message = "IWEF".index(match.group(1)), match.group(2)
    if severity < level:
        return True
    if severity == 2 and _NOT_AN_ERROR.search(message):
        return True
    gpu_files = gpu_device_files() if gpu_files is None else gpu_files
    return severity == 2 and not gpu_files and any(text in message for text in _NO_GPU)


@contextlib.contextmanager
def filtered_stderr():
    """Passes what is written to file descriptor 2 inside the block (C++ logs
    included) through a pipe to the real stderr, line by line as it comes,
    without the lines `is_noise` drops. Partial lines (progress bars) go through
    at once unless they may start a log record.

    Wrap the steps that print TensorFlow's noise: its import, the first device
    query, the first model build and call. Nothing is filtered at
    `TF_CPP_MIN_LOG_LEVEL=0`. A hard crash (abort, segfault) may lose the last
    lines written.
    """
    level = log_level()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr: nothing to filter
        saved = None
    if level == 0 or saved is None:
        if saved is not None:
            os.close(saved)
        yield
        return
    read_end, write_end = os.pipe()
    pump = threading.Thread(target=_pump, args=(read_end, saved, level, gpu_device_files()), daemon=True)
    pump.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the last write end of the pipe: the pump sees its end
        pump.join(timeout=10)  # a child process that inherited the pipe may keep it open
        os.close(saved)


def _may_start_noise(partial):
    # LiteRT writes its INFO line and the newline apart: the line waits for its end.
    return (_ABSL_PREAMBLE.startswith(partial) or _LITERT_INFO.startswith(partial)
            or re.match(r"[IWEF]\d{0,4}$|[IWEF]\d{4} ", partial) is not None)


def _pump(read_end, out, level, gpu_files):
    """Copies `read_end` to `out` without noise lines, until end of file."""
    pending = b""
    try:
        while data := os.read(read_end, 65536):
            *lines, pending = (pending + data).split(b"\n")
            kept = [line + b"\n" for line in lines if not is_noise(line.decode("utf-8", "replace"), level, gpu_files)]
            if pending and not _may_start_noise(pending.decode("utf-8", "replace")):
                kept.append(pending)
                pending = b""
            _write(out, b"".join(kept))
        if pending and not is_noise(pending.decode("utf-8", "replace"), level, gpu_files):
            _write(out, pending)
    except Exception:  # never block the writers: from now on copy everything
        _write(out, pending)
        while data := os.read(read_end, 65536):
            _write(out, data)
    finally:
        os.close(read_end)


def _write(fd, data):
    with contextlib.suppress(OSError):  # stderr closed: drop what we cannot show
        while data:
            data = data[os.write(fd, data) :]


def one_line_warnings(prefix=""):
    """A `warnings.showwarning` printing each message once, as `{prefix}warning:
    message`: a warning a callback repeats every epoch is said once."""
    shown = set()

    def show(message, *_, **__):
        if str(message) not in shown:
            shown.add(str(message))
            print(f"{prefix}warning: {message}", file=sys.stderr)

    return show


def quiet_tensorflow():
    """Imports TensorFlow without its start-up noise; call it before TensorFlow is imported.

    Sets `TF_CPP_MIN_LOG_LEVEL=2` if unset (C++ INFO and WARNING records off,
    errors kept), then imports TensorFlow and lists its physical devices (where
    the cuInit line comes from) inside `filtered_stderr()`. It initializes no
    device: logical devices, memory growth and distribution strategies can still
    be configured afterwards. Does nothing if TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault(LEVEL_ENV, "2")
    with filtered_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()
