"""benchmarks/cell_profile.py: the roles it gives TensorFlow's ops, and a profile that sees them."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def benchmark():
    spec = importlib.util.spec_from_file_location("cell_profile", ROOT / "benchmarks" / "cell_profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ops_of_a_trace_get_their_roles():
    role = benchmark().role
    body = "sequential_1/lstm_1/while/body/_1/sequential_1/lstm_1/while/lstm_cell_1"
    grads = "gradient_tape/sequential_1/lstm_1/while/gradients/sequential_1/lstm_1/while/lstm_cell_1"
    assert role(f"{body}/MatMul:_MklMatMul") == "x W"
    assert role(f"{body}/MatMul_1:_MklMatMul") == "h U"
    assert role(f"{body}/MatMul_6:_MklMatMul") == "x W"  # the zoo cell: x W_o, then h U_o
    assert role(f"{body}/MatMul_7:_MklMatMul") == "h U"
    assert role(f"{grads}/MatMul_1_grad/MatMul:_MklMatMul") == "d h (through U)"
    assert role(f"{grads}/MatMul_1_grad/MatMul_1:_MklMatMul") == "d U"
    assert role(f"{grads}/MatMul_grad/MatMul_1:_MklMatMul") == "d W"
    assert role(f"{grads}/split_grad/concat:ConcatV2") == "split / concat"
    assert role("sequential_1/gru_1/while/body/_1/sequential_1/gru_1/while/gru_cell_1/add:_MklNativeFusedMatMul") \
        == "x W or h U, its bias fused in"
    assert role("gradient_tape/while/gradients/AddN_4:AddN") == "AddN (sum over steps)"
    assert role(f"{body}/BiasAdd:BiasAdd") == "bias"
    assert role(f"{body}/Sigmoid:Sigmoid") == "other"


def test_profile_of_a_small_step_finds_keras_split_and_none_in_the_per_gate_cell():
    module = benchmark()
    found = {name: module.profile(module.step_fns(make(16), 4, 5, 8)[1], 2)
             for name, make in module.VARIANTS["lstm"].items()}
    for times in found.values():
        assert times["h U"] > 0 and times["d U"] > 0 and times["wall"] > 0
    assert found["keras"]["split / concat"] > 0 and found["zoo"]["split / concat"] == 0
