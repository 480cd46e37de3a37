"""Weights stored in Keras's fused layout, mapped onto cells with per-gate variables.

Files written before `zoo.layers.LSTMCell` kept one `W`, `U`, `b` per gate
hold each LSTM cell as Keras's three arrays (`kernel [D, 4H]`,
`recurrent_kernel [H, 4H]`, `bias [4H]`). A cell that knows how to read them
has `from_keras_layout(arrays) -> one array per variable` and
`to_keras_layout(arrays)`; this module walks a model's variables in order and
converts the arrays of each such cell.
"""


def _converting_cells(model):
    """{id(variable): cell} for every built cell of `model` with per-gate variables."""
    owners = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if layer.built and hasattr(layer, "from_keras_layout") and hasattr(layer, "to_keras_layout"):
            for variable in layer.weights:
                owners[id(variable)] = layer
    return owners


def keras_layout_arrays(model):
    """The arrays of `model.weights` with every per-gate cell in Keras's layout
    (what files written before the per-gate cells hold)."""
    owners, arrays, weights, j = _converting_cells(model), [], model.weights, 0
    while j < len(weights):
        cell = owners.get(id(weights[j]))
        if cell is None:
            arrays.append(weights[j].numpy())
            j += 1
        else:
            n = len(cell.weights)
            arrays.extend(cell.to_keras_layout([v.numpy() for v in weights[j : j + n]]))
            j += n
    return arrays


def from_keras_layout(model, arrays):
    """`arrays` in `keras_layout_arrays(model)` order -> one array per variable
    of `model.weights`, or None when they do not fit `model` that way."""
    owners, converted, weights, j, k = _converting_cells(model), [], model.weights, 0, 0
    while j < len(weights):
        cell = owners.get(id(weights[j]))
        if cell is None:
            if k >= len(arrays) or tuple(arrays[k].shape) != tuple(weights[j].shape):
                return None
            converted.append(arrays[k])
            j, k = j + 1, k + 1
            continue
        n = 3 if cell.use_bias else 2  # kernel, recurrent_kernel(, bias)
        try:
            converted.extend(cell.from_keras_layout(arrays[k : k + n]))
        except ValueError:
            return None
        j, k = j + len(cell.weights), k + n
    return converted if k == len(arrays) else None
