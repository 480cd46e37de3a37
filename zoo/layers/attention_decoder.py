"""A recurrent decoder that attends to the encoder at every step."""

import keras
from keras import ops

from zoo.layers._checks import boolean, rank


def _as_layer(layer):
    return keras.layers.deserialize(layer) if isinstance(layer, dict) else layer


@keras.saving.register_keras_serializable(package="zoo")
class AttentionDecoder(keras.layers.Layer):
    """Runs an RNN cell with attention and input feeding over a target sequence.

    Step `t`, with `y_t` the (embedded) input and `a_{t-1}` the previous
    context vector:

        h_t, state_t = cell([y_t ; a_{t-1}], state_{t-1})    # input feeding
        a_t, alpha_t = attention(h_t, encoder_states)
        output_t     = [h_t ; a_t]

    `call` runs every step with teacher forcing; `step` runs one step with an
    explicit state for greedy or beam decoding. Both give the same numbers.

    On TensorFlow the layer cannot be compiled with XLA (`supports_jit` is
    False, so Keras trains without it): `keras.ops.scan` builds a
    `tf.while_loop` without `maximum_iterations`, and XLA cannot compile its
    gradient ("XLA compilation requires a fixed tensor list size"), even with
    a static `length`.

    Args:
        cell: an RNN cell (`zoo.layers.LSTMCell`, `GRUCell`, or a Keras cell).
        attention: an attention layer with `project_keys` and
            `call(query, values, keys=, source_mask=) -> (context, weights)`,
            e.g. `zoo.layers.BahdanauAttention`.
        input_feeding: join the previous context to the cell input (Luong et
            al. 2015), so the decoder knows what it attended to.

    Call arguments:
        inputs: `[batch, tgt_len, input_dim]`.
        values: `[batch, src_len, value_dim]`, the encoder states.
        initial_state: optional list of the cell's states (e.g. a projection of
            the encoder's final state); zeros by default.
        source_mask: optional `[batch, src_len]`, False at source padding.
        training: whether the cell applies dropout.

    Returns:
        `(outputs, attention)`: `[batch, tgt_len, cell_units + value_dim]` and
        `[batch, tgt_len, src_len]`.

    Example:

    >>> from zoo.layers import BahdanauAttention, LSTMCell
    >>> decoder = AttentionDecoder(LSTMCell(8), BahdanauAttention(8))
    >>> outputs, attention = decoder(ops.ones((2, 4, 3)), ops.ones((2, 5, 6)))
    >>> ops.shape(outputs), ops.shape(attention)
    ((2, 4, 14), (2, 4, 5))
    """

    def __init__(self, cell, attention, input_feeding=True, **kwargs):
        super().__init__(**kwargs)
        self.supports_jit = keras.backend.backend() != "tensorflow"  # see the docstring
        self.cell = _as_layer(cell)
        self.attention = _as_layer(attention)
        self.input_feeding = boolean("input_feeding", input_feeding)
        for name, layer in (("cell", self.cell), ("attention", self.attention)):
            if not isinstance(layer, keras.layers.Layer):
                raise ValueError(
                    f"`{name}` must be a Keras layer, got {type(layer).__name__}."
                )
        if not hasattr(self.cell, "state_size"):
            raise ValueError(
                "`cell` must be an RNN cell with a `state_size`, got "
                f"{type(self.cell).__name__}."
            )
        if not callable(getattr(self.attention, "project_keys", None)):
            raise ValueError(
                "`attention` must be an attention layer with `project_keys` (as "
                f"`zoo.layers.BahdanauAttention`), got {type(self.attention).__name__}."
            )

    def build(self, inputs_shape, values_shape, initial_state_shape=None,
              source_mask_shape=None):
        rank("inputs", inputs_shape, (3,))
        rank("values", values_shape, (3,))
        self.value_dim = values_shape[-1]
        cell_input_dim = inputs_shape[-1] + (self.value_dim if self.input_feeding else 0)
        # Sublayers rebuilt from a config (`from_config`, `load_model`) come built.
        if not self.cell.built:
            self.cell.build((None, cell_input_dim))
        if not self.attention.built:
            self.attention.build((None, self.cell.output_size), values_shape)

    @property
    def output_size(self):
        return self.cell.output_size + self.value_dim

    def get_initial_state(self, values, cell_states=None):
        """The full decoder state: the cell's states, then the context."""
        batch_size = ops.shape(values)[0]
        if cell_states is None:
            cell_states = self.cell.get_initial_state(batch_size=batch_size)
        context = ops.zeros((batch_size, self.value_dim), dtype=self.compute_dtype)
        return [*cell_states, context]

    def project_keys(self, values):
        """What the attention precomputes per source, once for all steps."""
        return self.attention.project_keys(values)

    def step(self, inputs, states, values, keys, source_mask=None, training=False):
        """One decoder step: `[batch, input_dim]` -> `(output, weights, states)`."""
        *cell_states, context = states
        x = ops.concatenate([inputs, context], axis=-1) if self.input_feeding else inputs
        h, cell_states = self.cell(x, cell_states, training=training)
        context, weights = self.attention(h, values, keys=keys, source_mask=source_mask)
        output = ops.concatenate([h, context], axis=-1)
        return output, weights, [*cell_states, context]

    def call(self, inputs, values, initial_state=None, source_mask=None, training=False):
        keys = self.project_keys(values)  # once per source, not once per step
        states = self.get_initial_state(values, initial_state)
        batch_size, src_len = ops.shape(values)[0], ops.shape(values)[1]
        dtype = self.compute_dtype
        if training:
            self._draw_dropout_masks(inputs[:, 0], states)

        def body(carry, x_t):
            output, weights, new_states = self.step(
                x_t, carry["states"], values, keys, source_mask, training
            )
            weights = ops.cast(weights, dtype)
            new_carry = {"states": new_states, "output": output, "weights": weights}
            # keras.ops.scan on TensorFlow needs outputs shaped like the carry.
            return new_carry, new_carry

        init = {
            "states": states,
            "output": ops.zeros((batch_size, self.output_size), dtype=dtype),
            "weights": ops.zeros((batch_size, src_len), dtype=dtype),
        }
        _, per_step = ops.scan(body, init, ops.transpose(inputs, (1, 0, 2)))
        if training:
            self._reset_dropout_masks()
        outputs = ops.transpose(per_step["output"], (1, 0, 2))
        attention = ops.transpose(per_step["weights"], (1, 0, 2))
        return outputs, attention

    def _draw_dropout_masks(self, first_input, states):
        # One mask per sequence, drawn outside the loop (as keras.layers.RNN does).
        if hasattr(self.cell, "get_dropout_mask"):
            x = first_input
            if self.input_feeding:
                x = ops.concatenate([x, states[-1]], axis=-1)
            self.cell.get_dropout_mask(x)
            self.cell.get_recurrent_dropout_mask(states[0])

    def _reset_dropout_masks(self):
        if hasattr(self.cell, "reset_dropout_mask"):
            self.cell.reset_dropout_mask()
            self.cell.reset_recurrent_dropout_mask()

    def get_config(self):
        config = {
            "cell": keras.layers.serialize(self.cell),
            "attention": keras.layers.serialize(self.attention),
            "input_feeding": self.input_feeding,
        }
        base_config = super().get_config()
        return {**base_config, **config}
