"""Argument checks shared by the layers: one message format everywhere."""


def positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def rate(name, value):
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1), got {value!r}.")
    return float(value)


def rank(name, shape, allowed):
    if len(shape) not in allowed:
        allowed_text = " or ".join(str(r) for r in allowed)
        raise ValueError(
            f"`{name}` must have rank {allowed_text}, got shape {tuple(shape)} "
            f"(rank {len(shape)})."
        )
