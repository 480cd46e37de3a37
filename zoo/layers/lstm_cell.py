"""Long short-term memory cell with every gate written out."""

import keras
from keras import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from zoo.layers._checks import positive_int, rank, rate


# `DropoutRNNCell` is the mixin `keras.layers.RNN` looks for to draw one dropout
# mask per batch (not per step) and to reset it afterwards; Keras exports no
# public name for it.
@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(keras.layers.Layer, DropoutRNNCell):
    """LSTM cell (Hochreiter & Schmidhuber 1997) written gate by gate.

    With `x` the input, `h`/`c` the previous hidden and cell state:

        i = sigmoid(x W_i + h U_i + b_i)      input gate
        f = sigmoid(x W_f + h U_f + b_f)      forget gate
        g = tanh(x W_c + h U_c + b_c)         candidate cell state
        o = sigmoid(x W_o + h U_o + b_o)      output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    The weights have the names, shapes and gate order (i, f, c, o) of
    `keras.layers.LSTMCell`, so `cell.set_weights(keras_cell.get_weights())`
    gives the same outputs.

    Args:
        units: positive integer, size of `h` and `c`.
        activation: activation of the candidate and of the cell output.
        recurrent_activation: activation of the three gates.
        use_bias: whether the gates have a bias.
        kernel_initializer: initializer of `kernel` `[input_dim, 4 * units]`.
        recurrent_initializer: initializer of `recurrent_kernel`
            `[units, 4 * units]`.
        bias_initializer: initializer of `bias` `[4 * units]`.
        unit_forget_bias: add 1 to the forget-gate bias at initialization
            (Jozefowicz et al. 2015), so the cell starts by remembering.
        dropout: fraction of the inputs dropped (one mask per sequence).
        recurrent_dropout: fraction of `h` dropped in the recurrence (Gal &
            Ghahramani 2016: one mask per sequence).
        seed: seed of the dropout masks.

    Call arguments:
        inputs: `[batch, input_dim]`, one time step.
        states: `[h, c]`, each `[batch, units]`.
        training: whether dropout is applied.

    Returns:
        `(h, [h, c])`.

    Example:

    >>> layer = keras.layers.RNN(LSTMCell(8), return_sequences=True)
    >>> ops.shape(layer(ops.ones((2, 5, 3))))
    (2, 5, 8)
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
        unit_forget_bias=True,
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
        self.unit_forget_bias = unit_forget_bias
        self.dropout = rate("dropout", dropout)
        self.recurrent_dropout = rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        rank("inputs", input_shape, (2,))
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(input_dim, 4 * self.units),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 4 * self.units),
            initializer=self.recurrent_initializer,
            name="recurrent_kernel",
        )
        if self.use_bias:
            bias_initializer = self.bias_initializer
            if self.unit_forget_bias:
                base, units = self.bias_initializer, self.units

                def bias_initializer(_, *args, **kwargs):
                    return ops.concatenate(
                        [
                            base((units,), *args, **kwargs),  # input gate
                            keras.initializers.get("ones")((units,), *args, **kwargs),
                            base((units * 2,), *args, **kwargs),  # candidate, output
                        ]
                    )

            self.bias = self.add_weight(
                shape=(4 * self.units,), initializer=bias_initializer, name="bias"
            )
        else:
            self.bias = None

    def gates(self, inputs, states, training=False):
        """One step, returning `(h, [h, c], {"input", "forget", "candidate",
        "output", "cell"})`: the gate activations, each `[batch, units]`."""
        h_prev, c_prev = states
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            h_prev = h_prev * self.get_recurrent_dropout_mask(h_prev)

        # Pre-activations of the four gates in one product each for x and h:
        # [batch, 4 * units], split below in the Keras order i, f, c, o.
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_prev, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)

        i = self.recurrent_activation(z_i)  # input gate: how much of g to write
        f = self.recurrent_activation(z_f)  # forget gate: how much of c to keep
        g = self.activation(z_c)  # candidate values
        o = self.recurrent_activation(z_o)  # output gate: how much of c to show
        c = f * c_prev + i * g
        h = o * self.activation(c)
        return h, [h, c], {"input": i, "forget": f, "candidate": g, "output": o, "cell": c}

    def call(self, inputs, states, training=False):
        h, new_states, _ = self.gates(inputs, states, training=training)
        return h, new_states

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, self.units), dtype=self.compute_dtype),
            ops.zeros((batch_size, self.units), dtype=self.compute_dtype),
        ]

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
            "unit_forget_bias": self.unit_forget_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        base_config = super().get_config()
        return {**base_config, **config}
