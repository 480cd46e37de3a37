"""zoo.checks: the public argument checks, one implementation for the whole package."""

import numpy as np
import pytest

from zoo import checks
from zoo.layers import _checks


def test_the_layers_use_the_same_checks_not_a_copy():
    for name in ("boolean", "finite_number", "integer", "non_negative_int", "positive_int", "rank", "rate"):
        assert getattr(_checks, name) is getattr(checks, name)


@pytest.mark.parametrize(("value", "error", "message"), [
    (-1, ValueError, "`seed` must be a non-negative integer, got -1."),
    (1.0, TypeError, "`seed` must be a non-negative integer, got 1.0."),
    (True, TypeError, "`seed` must be a non-negative integer, got True of type bool."),
])
def test_non_negative_int_names_the_argument_value_and_what_is_allowed(value, error, message):
    with pytest.raises(error) as raised:
        checks.non_negative_int("seed", value)
    assert str(raised.value) == message


def test_numpy_integers_are_integers():
    assert checks.non_negative_int("seed", np.int64(0)) == 0 and type(checks.positive_int("n", np.int32(3))) is int
