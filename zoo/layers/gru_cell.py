"""Gated recurrent unit cell with every gate written out."""

import keras
from keras import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from zoo.layers._checks import positive_int, rank, rate


# See lstm_cell.py for why the private `DropoutRNNCell` mixin is used.
@keras.saving.register_keras_serializable(package="zoo")
class GRUCell(keras.layers.Layer, DropoutRNNCell):
    """GRU cell (Cho et al. 2014) written gate by gate.

    With `x` the input and `h` the previous state:

        z = sigmoid(x W_z + b_z + h U_z + b'_z)     update gate
        r = sigmoid(x W_r + b_r + h U_r + b'_r)     reset gate
        reset_after=True  (Keras, cuDNN):
            n = tanh(x W_h + b_h + r * (h U_h + b'_h))
        reset_after=False (Cho et al. 2014):
            n = tanh(x W_h + b_h + (r * h) U_h)
        h' = z * h + (1 - z) * n

    Weights have the names, shapes and gate order (z, r, h) of
    `keras.layers.GRUCell` in the same `reset_after` mode, so weights move
    between the two. With `reset_after=True` the bias is `[2, 3 * units]`
    (input bias, recurrent bias), otherwise `[3 * units]`.

    Args:
        units: positive integer, size of `h`.
        activation: activation of the candidate `n`.
        recurrent_activation: activation of the two gates.
        use_bias: whether the gates have biases.
        kernel_initializer: initializer of `kernel` `[input_dim, 3 * units]`.
        recurrent_initializer: initializer of `recurrent_kernel`
            `[units, 3 * units]`.
        bias_initializer: initializer of `bias`.
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
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.reset_after = reset_after
        self.dropout = rate("dropout", dropout)
        self.recurrent_dropout = rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        rank("inputs", input_shape, (2,))
        self.kernel = self.add_weight(
            shape=(input_shape[-1], 3 * self.units),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 3 * self.units),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )
        if self.use_bias:
            shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
            self.bias = self.add_weight(
                shape=shape, initializer=self.bias_initializer, name="bias"
            )
        else:
            self.bias = None

    def gates(self, inputs, states, training=False):
        """One step, returning `(h, [h], {"update", "reset", "candidate"})`:
        the gate activations, each `[batch, units]`."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        h_rec = h_prev
        if training and self.recurrent_dropout > 0:
            h_rec = h_prev * self.get_recurrent_dropout_mask(h_prev)

        input_bias, recurrent_bias = 0.0, 0.0
        if self.use_bias:
            if self.reset_after:
                input_bias, recurrent_bias = self.bias[0], self.bias[1]
            else:
                input_bias = self.bias

        # [batch, 3 * units] each, split in the Keras order z, r, h.
        x_z, x_r, x_h = ops.split(ops.matmul(inputs, self.kernel) + input_bias, 3, -1)
        if self.reset_after:
            h_z, h_r, h_h = ops.split(
                ops.matmul(h_rec, self.recurrent_kernel) + recurrent_bias, 3, -1
            )
        else:
            u_zr = self.recurrent_kernel[:, : 2 * self.units]
            h_z, h_r = ops.split(ops.matmul(h_rec, u_zr), 2, -1)

        z = self.recurrent_activation(x_z + h_z)  # update gate: how much h to keep
        r = self.recurrent_activation(x_r + h_r)  # reset gate: how much h feeds n
        if self.reset_after:
            n = self.activation(x_h + r * h_h)
        else:
            u_h = self.recurrent_kernel[:, 2 * self.units :]
            n = self.activation(x_h + ops.matmul(r * h_rec, u_h))
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
