"""zoo.quiet: TensorFlow's start-up noise is dropped, everything else is kept in order."""

import os
import time

import pytest

from zoo import quiet

PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ONEDNN_INFO = ("I0000 00:00:1796184855.137424    4892 port.cc:153] oneDNN custom operations are on. You may see "
               "slightly different numerical results due to floating-point round-off errors.")
DRIVERS_INFO = "I0000 00:00:1796184855.137935    4892 cudart_stub.cc:31] Could not find cuda drivers on your machine."
CUINIT = ("E0000 00:00:1796184860.044776    4892 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
          "Failed call to cuInit: UNKNOWN ERROR (303)")
DT_BOOL = ("E0000 00:00:1796184860.506697    4892 util.cc:131] oneDNN supports DT_BOOL only on platforms with "
           "AVX-512. Falling back to the default Eigen-based implementation if present.")
A_WARNING = "W0000 00:00:1796184860.506697    4892 loop.cc:10] Local rendezvous is aborting"
AN_ERROR = "E0000 00:00:1796184861.000000    4892 kernel.cc:42] OOM when allocating tensor"
XNNPACK = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."  # LiteRT (zoo.lite), per interpreter
NOISE = [PREAMBLE, ONEDNN_INFO, DRIVERS_INFO, CUINIT, DT_BOOL, XNNPACK]


@pytest.mark.parametrize("line, level, gpu_files, expected", [
    *[(line, 2, [], True) for line in NOISE],
    (CUINIT, 2, ["/dev/nvidia0"], False),  # with a GPU, a failed cuInit is a real error
    (DT_BOOL.replace("DT_BOOL", "DT_INT32"), 2, [], True),
    (A_WARNING, 2, [], True),
    (A_WARNING, 1, [], False),
    (ONEDNN_INFO, 1, [], True),
    (XNNPACK, 1, [], True),
    ("INFO: a LiteRT line that says something else", 2, [], False),
    (AN_ERROR, 2, [], False),
    (AN_ERROR, 3, [], True),
    *[(line, 0, [], False) for line in NOISE],  # TF_CPP_MIN_LOG_LEVEL=0: everything
    ("UserWarning: something real", 2, [], False),
    ("WARNING:tensorflow:5 out of the last 5 calls triggered tf.function retracing", 2, [], False),
    ("Traceback (most recent call last):", 3, [], False),
])
def test_is_noise(line, level, gpu_files, expected):
    assert quiet.is_noise(line + "\n", level, gpu_files) is expected


def test_filtered_stderr_drops_noise_and_keeps_the_rest_in_order(monkeypatch, capfd):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setattr(quiet, "gpu_device_files", lambda: [])
    with quiet.filtered_stderr():
        os.write(2, ("\n".join([PREAMBLE, ONEDNN_INFO, "kept 1", CUINIT]) + "\n").encode())
        os.write(2, b"kept 2\n")
        os.write(2, XNNPACK.encode())  # LiteRT writes its line, then the newline
        time.sleep(0.2)  # the pump reads the line without its end first
        os.write(2, b"\n")
        os.write(2, f"{DT_BOOL}\n{AN_ERROR}\n\r 50%|#####     | 1/2".encode())  # a progress bar: no newline
    assert capfd.readouterr().err == f"kept 1\nkept 2\n{AN_ERROR}\n\r 50%|#####     | 1/2"


def test_filtered_stderr_keeps_everything_at_level_0(monkeypatch, capfd):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with quiet.filtered_stderr():
        os.write(2, f"{PREAMBLE}\n{CUINIT}\n".encode())
    assert capfd.readouterr().err == f"{PREAMBLE}\n{CUINIT}\n"


def test_filtered_stderr_restores_stderr_after_an_exception(monkeypatch, capfd):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with pytest.raises(KeyError), quiet.filtered_stderr():
        os.write(2, f"{PREAMBLE}\nbefore\n".encode())
        raise KeyError("x")
    os.write(2, f"{PREAMBLE}\n".encode())  # no longer filtered
    assert capfd.readouterr().err == f"before\n{PREAMBLE}\n"
