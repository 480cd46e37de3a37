"""Cells with one weight matrix per gate, and Keras's fused layout in and out.

`zoo.layers.LSTMCell` and `GRUCell` keep one `W`, `U`, `b` per gate, as their
equations are written. Keras's cells (and cuDNN) keep the gates side by side
in one `kernel [D, G * units]`, one `recurrent_kernel [units, G * units]` and
one `bias`, gates in Keras's order. `PerGateWeights` gives a cell both:
its variables per gate, and `get_weights()` / `set_weights()` in Keras's
layout, so weights move between the zoo's and Keras's cells. Files written
before the cells kept one matrix per gate hold Keras's layout;
`keras_layout_arrays` and `from_keras_layout` walk a whole model's variables
and convert the arrays of each such cell.
"""

import contextlib

import keras
import numpy as np
from keras import ops


def _columns_of(draw, columns):
    """An initializer returning `columns` of the matrix `draw()` gives for all
    gates. It is called when Keras creates the variable, outside any traced
    graph, so a cell built inside a model's first call draws eagerly too."""

    def initializer(shape, dtype=None):
        value = draw()[..., columns]
        return ops.cast(value, dtype) if dtype is not None else value

    return initializer


def _shared_draw(initializer, shape, dtype):
    """`draw()`: the fused matrix of `initializer`, drawn once for every gate,
    eagerly (as NumPy) also when the cell is built inside a traced call."""
    drawn = []

    def draw():
        if not drawn:
            with _eagerly():
                drawn.append(ops.convert_to_numpy(initializer(shape, dtype=dtype)))
        return drawn[0]

    return draw


def _eagerly():
    """A scope that runs ops eagerly while a graph is traced (TensorFlow
    traces a subclassed model's first call, building its layers inside)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the TensorFlow backend only: the layers import no backend

        return tf.init_scope()
    return contextlib.nullcontext()


class PerGateWeights:
    """Mixin of a cell with variables `W_g [input_dim, units]`, `U_g [units,
    units]` (and `b_g`) for each gate `g` of `GATES`, Keras's gate order.

    The cell sets `GATES`, `units`, `use_bias`, the three initializers, and
    calls `_build_gates(input_dim)` in `build`; `_fused_bias_shape()` is
    Keras's bias shape (`[G * units]` unless the cell says otherwise).
    """

    GATES = ()

    def _fused_bias_shape(self):
        return (len(self.GATES) * self.units,)

    def _build_gates(self, input_dim, bias_initializers=None):
        """Draws the weights in Keras's layout (so glorot's scale and the
        orthogonality of the recurrent matrix are those of the fused matrices:
        seeded, the numbers of Keras's cell) and cuts them per gate.
        `bias_initializers` overrides the bias of some gates: {gate: initializer}."""
        units, width = self.units, len(self.GATES) * self.units
        fused = {"W": ((input_dim, width), self.kernel_initializer),
                 "U": ((units, width), self.recurrent_initializer)}
        if self.use_bias:
            fused["b"] = (tuple(self._fused_bias_shape()), self.bias_initializer)
        draws = {name: _shared_draw(initializer, shape, self.variable_dtype)
                 for name, (shape, initializer) in fused.items()}
        for k, gate in enumerate(self.GATES):
            columns = slice(k * units, (k + 1) * units)
            for name, (full_shape, _) in fused.items():
                initializer = _columns_of(draws[name], columns)
                if name == "b" and gate in (bias_initializers or {}):
                    initializer = bias_initializers[gate]
                shape = tuple(full_shape[:-1]) + (units,)
                setattr(self, f"{name}_{gate}", self.add_weight(shape=shape, initializer=initializer,
                                                               name=f"{name}_{gate}"))
            if not self.use_bias:
                setattr(self, f"b_{gate}", None)

    def get_weights(self):
        """The weights in the layout of Keras's cell: `[kernel,
        recurrent_kernel, bias]` (no bias when `use_bias=False`), NumPy arrays
        with the gates side by side in `GATES` order."""
        return self.to_keras_layout([v.numpy() for v in self.weights])

    def set_weights(self, weights):
        """Sets the weights from Keras's layout (what `get_weights()` and the
        Keras cell's `get_weights()` return) or from one array per variable of
        `cell.weights` (`W_g, U_g, b_g` for each gate in turn)."""
        weights = list(weights)
        if len(weights) != len(self.weights):
            weights = self.from_keras_layout(weights)
        super().set_weights(weights)

    def load_own_variables(self, store):
        # A `.keras` file written before the per-gate variables holds this
        # cell as Keras's fused arrays "0", "1"(, "2").
        if len(store.keys()) == (3 if self.use_bias else 2):
            self.set_weights([store[str(i)] for i in range(len(store.keys()))])
            return
        super().load_own_variables(store)

    def to_keras_layout(self, arrays):
        """One array per variable of `cell.weights` -> `[kernel,
        recurrent_kernel(, bias)]` of Keras's cell."""
        per_gate = len(arrays) // len(self.GATES)
        by_gate = [arrays[k * per_gate : (k + 1) * per_gate] for k in range(len(self.GATES))]
        return [np.concatenate([gate[n] for gate in by_gate], axis=-1) for n in range(per_gate)]

    def from_keras_layout(self, weights):
        """`[kernel, recurrent_kernel(, bias)]` of Keras's cell -> one array
        per variable of `cell.weights`. Raises ValueError when the arrays are
        not that layout for this cell."""
        weights = [np.asarray(w) for w in weights]
        input_dim, units, width = self.weights[0].shape[0], self.units, len(self.GATES) * self.units
        expected = [(input_dim, width), (units, width)] + ([self._fused_bias_shape()] if self.use_bias else [])
        got = [tuple(w.shape) for w in weights]
        if got != expected:
            raise ValueError(
                f"`weights` must be the {len(self.weights)} arrays of `cell.weights` or Keras's layout "
                f"{expected} (kernel, recurrent_kernel{', bias' if self.use_bias else ''}), got shapes {got}."
            )
        arrays = []
        for k in range(len(self.GATES)):
            columns = slice(k * units, (k + 1) * units)
            arrays.extend(w[..., columns] for w in weights)
        return arrays


def _converting_cells(model):
    """{id(variable): cell} for every built cell of `model` with per-gate variables."""
    owners = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if layer.built and isinstance(layer, PerGateWeights):
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
