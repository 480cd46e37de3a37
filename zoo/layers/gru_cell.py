"""Gated recurrent unit cell with every gate written out."""

import keras
from keras import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from zoo.checks import STEP_HINT
from zoo.layers._checks import boolean, positive_int, rank, rate
from zoo.layers.layout import PerGateWeights


# See lstm_cell.py for why the private `DropoutRNNCell` mixin is used.
@keras.saving.register_keras_serializable(package="zoo")
class GRUCell(PerGateWeights, keras.layers.Layer, DropoutRNNCell):
    """GRU cell (Cho et al. 2014) written gate by gate.

    With `x` the input and `h` the previous state:

        z = sigmoid(x W_z + b_z + h U_z + b'_z)     update gate
        r = sigmoid(x W_r + b_r + h U_r + b'_r)     reset gate
        reset_after=True  (Keras, cuDNN):
            n = tanh(x W_h + b_h + r * (h U_h + b'_h))
        reset_after=False (Cho et al. 2014):
            n = tanh(x W_h + b_h + (r * h) U_h)
        h' = z * h + (1 - z) * n

    Each gate has its own weights, as in the equations: `W_g [input_dim,
    units]`, `U_g [units, units]` and `b_g` for g in z, r, h (9 variables, in
    that order). With `reset_after=True`, `b_g` is `[2, units]`: the input
    bias `b` and the recurrent bias `b'`; otherwise `[units]` (no `b'`).
    `get_weights()` returns, and `set_weights()` also accepts, the layout of
    `keras.layers.GRUCell` in the same `reset_after` mode (`kernel
    [input_dim, 3 * units]`, `recurrent_kernel [units, 3 * units]`, `bias
    [2, 3 * units]` or `[3 * units]`, gates in the order z, r, h), so weights
    move both ways between the two and a fused kernel (cuDNN) can be handed
    the same weights.

    Args:
        units: positive integer, size of `h`.
        activation: activation of the candidate `n`.
        recurrent_activation: activation of the two gates.
        use_bias: whether the gates have biases.
        kernel_initializer: initializer of the input weights, drawn for all
            gates at once as Keras's `kernel` `[input_dim, 3 * units]` and cut
            into `W_z`, `W_r`, `W_h` (the same distribution as Keras's).
        recurrent_initializer: initializer of the recurrent weights, drawn as
            `[units, 3 * units]` and cut into `U_z`, `U_r`, `U_h`.
        bias_initializer: initializer of the biases, drawn in Keras's bias
            shape and cut per gate.
        reset_after: apply the reset gate after the recurrent product.
        dropout: fraction of the inputs dropped (one mask per sequence).
        recurrent_dropout: fraction of `h` dropped in the recurrence.
        seed: seed of the dropout masks.

    Call arguments:
        inputs: `[batch, input_dim]`, one time step.
        states: `[h]` or `h`, `[batch, units]`.
        training: whether dropout is applied.

    Returns:
        `(h, [h])`.

    Example:

    >>> layer = keras.layers.RNN(GRUCell(8, reset_after=False))
    >>> ops.shape(layer(ops.ones((2, 5, 3))))
    (2, 8)
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        reset_after=True,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = boolean("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.reset_after = boolean("reset_after", reset_after)
        self.dropout = rate("dropout", dropout)
        self.recurrent_dropout = rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = units
        self.output_size = units

    GATES = ("z", "r", "h")  # Keras's gate order

    def _fused_bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def build(self, input_shape):
        rank("inputs", input_shape, (2,), STEP_HINT)
        self._build_gates(input_shape[-1])

    def gates(self, inputs, states, training=False):
        """One step, returning `(h, [h], {"update", "reset", "candidate"})`:
        the gate activations, each `[batch, units]`."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        h = h_prev
        if training and self.recurrent_dropout > 0:
            h = h_prev * self.get_recurrent_dropout_mask(h_prev)
        x, after = inputs, self.reset_after

        def parts(W, U, b):  # (x W + b, h U + b'), each [batch, units], added in Keras's order
            xw, hu = ops.matmul(x, W), ops.matmul(h, U)
            if b is None:
                return xw, hu
            return (xw + b[0], hu + b[1]) if after else (xw + b, hu)

        def affine(W, U, b):
            xw, hu = parts(W, U, b)
            return xw + hu

        z = self.recurrent_activation(affine(self.W_z, self.U_z, self.b_z))  # update gate: how much h to keep
        r = self.recurrent_activation(affine(self.W_r, self.U_r, self.b_r))  # reset gate: how much h feeds n
        if after:
            x_h, h_h = parts(self.W_h, self.U_h, self.b_h)
            n = self.activation(x_h + r * h_h)
        else:
            x_h = ops.matmul(x, self.W_h) + (0.0 if self.b_h is None else self.b_h)
            n = self.activation(x_h + ops.matmul(r * h, self.U_h))
        h = z * h_prev + (1.0 - z) * n
        return h, [h], {"update": z, "reset": r, "candidate": n}

    def call(self, inputs, states, training=False):
        h, new_states, _ = self.gates(inputs, states, training=training)
        return h, new_states

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "reset_after": self.reset_after,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        base_config = super().get_config()
        return {**base_config, **config}
