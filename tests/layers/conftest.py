"""Fixtures shared by the layer tests."""

import keras
import pytest


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    """Sets a mixed-precision global policy for one test, then restores float32."""
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")
