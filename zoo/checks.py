"""Argument checks shared by the layers, the models' public methods, the
callbacks and the decoder: one message format everywhere (the argument, the
value received, what is allowed), e.g. "`beam_size` must be a positive
integer, got 0.". `integer`, `non_negative_int`, `finite_number` and
`boolean` raise TypeError for a value of the wrong type and ValueError for one
out of range; `positive_int`, `rate` and `rank` raise ValueError.

Plain Python checks, run before any value reaches Keras or TensorFlow, so a
message never carries their formatting (or ANSI colour codes).
"""

import math
import numbers


def positive_int(name, value):
    """`value` as an int; raises ValueError unless it is an integer >= 1 (NumPy integers included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


def rate(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1), got {value!r}.")
    return float(value)


def rank(name, shape, allowed, hint=""):
    if len(shape) not in allowed:
        allowed_text = " or ".join(str(r) for r in allowed)
        raise ValueError(
            f"`{name}` must have rank {allowed_text}, got shape {tuple(shape)} "
            f"(rank {len(shape)}){hint}."
        )


# What a cell's rank error adds: the cell sees one step, its RNN layer the sequence.
STEP_HINT = ": a cell reads one step, `[batch, features]`; keras.layers.RNN(cell) reads `[batch, time, features]`"


def _got(value):
    """The value as a message shows it: its repr, and its type where the repr hides it."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    if type(value) in (int, float):
        return text
    return f"{text} of type {type(value).__name__}"


def integer(name, value, minimum=None, maximum=None, allow_none=False):
    """`value` as a Python int (or None when `allow_none`).

    Accepts `int` and NumPy integers, never a bool. Raises TypeError for any
    other type and ValueError outside `[minimum, maximum]`, naming `name`.

    >>> integer("length", 3, minimum=0)
    3
    """
    if value is None and allow_none:
        return None
    allowed = _integer_text(minimum, maximum) + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be {allowed}, got {_got(value)}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return int(value)


def non_negative_int(name, value, allow_none=False):
    """`value` as an int >= 0 (see `integer`)."""
    return integer(name, value, minimum=0, allow_none=allow_none)


def _integer_text(minimum, maximum):
    if maximum is None:
        return {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
    if minimum is None:
        return f"an integer <= {maximum}"
    return f"an integer in [{minimum}, {maximum}]"


def finite_number(name, value, minimum=None, maximum=None, minimum_open=False, allow_none=False):
    """`value` as a Python float (or None when `allow_none`).

    Accepts any real number (`int`, `float`, NumPy scalars) that is finite and
    within the bounds (`minimum` excluded when `minimum_open`). Raises TypeError
    for a bool or a non-number, ValueError for NaN, infinity or a value out of
    range, naming `name`.

    >>> finite_number("temperature", 0.8, minimum=0)
    0.8
    """
    if value is None and allow_none:
        return None
    if minimum is not None and maximum is not None:
        allowed = f"a finite number in {'(' if minimum_open else '['}{minimum:g}, {maximum:g}]"
    elif minimum is not None:
        allowed = f"a finite number {'>' if minimum_open else '>='} {minimum:g}"
    elif maximum is not None:
        allowed = f"a finite number <= {maximum:g}"
    else:
        allowed = "a finite number"
    allowed += " or None" if allow_none else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be {allowed}, got {_got(value)}.")
    number = float(value)
    low_ok = minimum is None or (number > minimum if minimum_open else number >= minimum)
    if not math.isfinite(number) or not low_ok or (maximum is not None and number > maximum):
        raise ValueError(f"`{name}` must be {allowed}, got {value!r}.")
    return number


def boolean(name, value):
    """`value` as a bool: True or False (NumPy bools included), nothing else."""
    if type(value).__name__ not in ("bool", "bool_"):
        raise TypeError(f"`{name}` must be True or False, got {_got(value)}.")
    return bool(value)
