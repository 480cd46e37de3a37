"""Long short-term memory cell with every gate written out."""

import keras
from keras import ops
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from zoo.checks import STEP_HINT
from zoo.layers._checks import boolean, positive_int, rank, rate
from zoo.layers.layout import PerGateWeights


# `DropoutRNNCell` is the mixin `keras.layers.RNN` looks for to draw one dropout
# mask per batch (not per step) and to reset it afterwards; Keras exports no
# public name for it.
@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(PerGateWeights, keras.layers.Layer, DropoutRNNCell):
    """LSTM cell (Hochreiter & Schmidhuber 1997) written gate by gate.

    With `x` the input, `h`/`c` the previous hidden and cell state:

        i = sigmoid(x W_i + h U_i + b_i)      input gate
        f = sigmoid(x W_f + h U_f + b_f)      forget gate
        g = tanh(x W_c + h U_c + b_c)         candidate cell state
        o = sigmoid(x W_o + h U_o + b_o)      output gate
        c' = f * c + i * g
        h' = o * tanh(c')

    Each gate has its own weights, as in the equations: `W_g [input_dim,
    units]`, `U_g [units, units]` and `b_g [units]` for g in i, f, c, o (12
    variables, in that order). `get_weights()` returns, and `set_weights()`
    also accepts, the layout of `keras.layers.LSTMCell` (`kernel [input_dim,
    4 * units]`, `recurrent_kernel [units, 4 * units]`, `bias [4 * units]`,
    gates in the order i, f, c, o), so `cell.set_weights(keras_cell.get_weights())`
    and `keras_cell.set_weights(cell.get_weights())` give the same outputs and
    a fused kernel (cuDNN) can be handed the same weights.

    Args:
        units: positive integer, size of `h` and `c`.
        activation: activation of the candidate and of the cell output.
        recurrent_activation: activation of the three gates.
        use_bias: whether the gates have a bias.
        kernel_initializer: initializer of the input weights, drawn for all
            gates at once as Keras's `kernel` `[input_dim, 4 * units]` and cut
            into `W_i`, `W_f`, `W_c`, `W_o` (the same distribution as Keras's).
        recurrent_initializer: initializer of the recurrent weights, drawn as
            `[units, 4 * units]` and cut into `U_i`, ..., `U_o`.
        bias_initializer: initializer of the biases `b_i`, ..., `b_o`.
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
        self.use_bias = boolean("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.unit_forget_bias = boolean("unit_forget_bias", unit_forget_bias)
        self.dropout = rate("dropout", dropout)
        self.recurrent_dropout = rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = [units, units]
        self.output_size = units

    GATES = ("i", "f", "c", "o")  # Keras's gate order

    def build(self, input_shape):
        rank("inputs", input_shape, (2,), STEP_HINT)
        ones = keras.initializers.get("ones")  # Jozefowicz et al. 2015
        self._build_gates(input_shape[-1], {"f": ones} if self.unit_forget_bias else None)

    def gates(self, inputs, states, training=False):
        """One step, returning `(h, [h, c], {"input", "forget", "candidate",
        "output", "cell"})`: the gate activations, each `[batch, units]`."""
        h_prev, c_prev = states
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            h_prev = h_prev * self.get_recurrent_dropout_mask(h_prev)
        x, h = inputs, h_prev

        def affine(W, U, b):  # x W + h U + b: [batch, units]
            z = ops.matmul(x, W) + ops.matmul(h, U)
            return z if b is None else z + b

        i = self.recurrent_activation(affine(self.W_i, self.U_i, self.b_i))  # input gate: how much of g to write
        f = self.recurrent_activation(affine(self.W_f, self.U_f, self.b_f))  # forget gate: how much of c to keep
        g = self.activation(affine(self.W_c, self.U_c, self.b_c))  # candidate values
        o = self.recurrent_activation(affine(self.W_o, self.U_o, self.b_o))  # output gate: how much of c to show
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
