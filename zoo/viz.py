"""Pictures people would rather look at than read: attention and gate heatmaps,
and where a captioner looked for each word."""

import io

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (gradient tapes: no `keras.ops` counterpart; the zoo runs on TensorFlow)


def _clean(pieces):
    return [p.replace("\u2581", "_") for p in pieces]


def attention_figure(source_pieces, output_pieces, weights, title=None):
    """Heatmap of `weights` `[len(output), len(source)]`: outputs down, sources across."""
    weights = np.asarray(weights, np.float32)
    if weights.ndim != 2 or weights.shape[0] < len(output_pieces) or weights.shape[1] < len(source_pieces):
        raise ValueError(f"`weights` must be `[len(output_pieces), len(source_pieces)]` = "
                         f"[{len(output_pieces)}, {len(source_pieces)}] (or larger), got shape {weights.shape}.")
    weights = weights[: len(output_pieces), : len(source_pieces)]
    fig, ax = plt.subplots(figsize=(0.35 * len(source_pieces) + 2, 0.3 * len(output_pieces) + 1.5))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_pieces)), _clean(source_pieces), rotation=90, fontsize=8)
    ax.set_yticks(range(len(output_pieces)), _clean(output_pieces), fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def gate_figure(text, gates, title=None):
    """Rows of per-character gate activations: `gates` maps a name to `[len(text)]`
    or `[len(text), units]` (then averaged over units)."""
    names = list(gates)
    for name in names:
        if np.shape(gates[name])[:1] != (len(text),):
            raise ValueError(f"`gates[{name!r}]` must be `[len(text)]` or `[len(text), units]` with len(text) = "
                             f"{len(text)}, got shape {np.shape(gates[name])}.")
    rows = np.stack([np.asarray(gates[n], np.float32).reshape(len(text), -1).mean(-1) for n in names])
    fig, ax = plt.subplots(figsize=(0.16 * len(text) + 2.3, 0.45 * len(names) + 1.0))
    if rows.size == 0 or (rows.min() >= 0.0 and rows.max() <= 1.0):  # sigmoid gates: their whole range
        image = ax.imshow(rows, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    else:  # a candidate (tanh) or the cell state: centred on 0, as far as the values go
        bound = float(np.abs(rows).max()) or 1.0
        image = ax.imshow(rows, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    shown = {"\n": "\u21b5", "\t": "\u21e5"}  # a line break and a tab, told from a space (\u2423)
    ax.set_xticks(range(len(text)), [shown.get(c, c if c.strip() else "\u2423") for c in text], fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def caption_attention_figure(image, words, weights, title=None, columns=5):
    """The image once per word, with the attention of that word over it:
    `image` `[H, W, 3]` in [0, 255], `weights` `[len(words), h, w]`."""
    image = np.asarray(image, np.float32) / 255.0
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"`image` must be `[height, width, 3]`, got shape {image.shape}.")
    if len(weights) < len(words):
        raise ValueError(f"`weights` must hold a map per word ({len(words)}), got {len(weights)}.")
    rows = -(-(len(words) + 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 2.1 * rows), squeeze=False)
    extent = (0, image.shape[1], image.shape[0], 0)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i == 0:
            ax.imshow(image, extent=extent)
            ax.set_title("image", fontsize=9)
        elif i <= len(words):
            ax.imshow(image, extent=extent)
            alpha = np.asarray(weights[i - 1], np.float32)
            ax.imshow(alpha / max(alpha.max(), 1e-8), cmap="magma", alpha=0.6, extent=extent, interpolation="bilinear")
            ax.set_title(words[i - 1], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def to_png(fig):
    """PNG bytes of a figure (and closes it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# -- gradient flow: how much of the loss's gradient reaches each earlier step --------------------


def _last_output_sum(outputs):
    # The default loss: a fixed linear read-out (all ones) of the last output, so
    # dLoss/dh_T is ones for every example whatever h_T is, and the curve shows only
    # what the recurrence does to it on the way back.
    return tf.reduce_sum(outputs[:, -1])


def _tensor(inputs, dtype, allowed):
    if isinstance(inputs, (str, bytes)):
        raise TypeError(f"`inputs` must be {allowed}, got {type(inputs).__name__}.")
    try:
        return tf.convert_to_tensor(inputs, dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`inputs` must be {allowed}, got {type(inputs).__name__} ({error}).") from None


def _stepper(model_or_layer, inputs, layer):
    """`(step, states, inputs)`: one step `(x_t, states) -> (output_t, states, h_t)` of the
    recurrence inside `model_or_layer`, its initial states and the inputs as a tensor."""
    if hasattr(model_or_layer, "step") and hasattr(model_or_layer, "initial_state"):
        model = model_or_layer  # a step model such as zoo's CharRNN: int ids [batch, time]
        if isinstance(inputs, str):
            if getattr(model, "vocabulary", None) is None:
                raise TypeError("`inputs` is a string, but the model has no vocabulary to encode it: "
                                "pass int ids `[batch, time]`.")
            inputs = [model.vocabulary.encode(inputs)]
        inputs = _tensor(inputs, "int32", "int ids `[batch, time]`")
        if inputs.shape.rank != 2:
            raise ValueError(
                f"`inputs` of a step model must be ids `[batch, time]`, got shape {tuple(inputs.shape)}."
            )
        size = getattr(model, "vocabulary_size", None)
        if size is not None and inputs.shape.num_elements():
            low, high = int(tf.reduce_min(inputs)), int(tf.reduce_max(inputs))
            if low < 0 or high >= size:
                raise ValueError(f"`inputs` must be ids in [0, {size}), got ids from {low} to {high}.")
        states = model.initial_state(inputs.shape[0])
        if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < len(states):
            raise ValueError(f"`layer` must be an int in [0, {len(states)}), got {layer!r}.")

        def step(x_t, states):
            logits, states = model.step(x_t, states)
            return logits, states, states[layer][0]

        return step, states, inputs

    cell = model_or_layer.cell if isinstance(model_or_layer, keras.layers.RNN) else model_or_layer
    if not (isinstance(cell, keras.layers.Layer) and hasattr(cell, "state_size")):
        raise TypeError(
            "`model_or_layer` must be a recurrent cell (a layer with `state_size`), a "
            "`keras.layers.RNN` (SimpleRNN, LSTM, GRU, or RNN around a cell) or a model with "
            f"`step` and `initial_state` (zoo's char models); got {type(model_or_layer).__name__}."
        )
    if isinstance(model_or_layer, keras.layers.RNN) and model_or_layer.go_backwards:
        raise ValueError("`model_or_layer` must run forwards; got a layer with `go_backwards=True`.")
    inputs = _tensor(inputs, cell.compute_dtype, "numbers `[batch, time, features]`")
    if inputs.shape.rank != 3:
        raise ValueError(
            f"`inputs` of a cell or RNN layer must be `[batch, time, features]`, got shape {tuple(inputs.shape)}."
        )
    if not cell.built:
        cell.build((None, inputs.shape[-1]))
    states = cell.get_initial_state(batch_size=inputs.shape[0])
    states = list(states) if isinstance(states, (list, tuple)) else [states]

    def step(x_t, states):
        output, states = cell(x_t, states)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        return output, states, output  # h_t: the output, which these cells also carry as their first state

    return step, states, inputs


def gradient_flow(model_or_layer, inputs, loss_fn=None, layer=0, reduction="mean"):
    """The norm of dLoss/dh_t for every step t: how much gradient reaches each earlier step.

    Runs the recurrence one step at a time under a `tf.GradientTape` and
    differentiates the loss with respect to every hidden state `h_t`. The
    gradient at `h_t` is the total one: through the next steps of the
    recurrence and, in a stacked model, through the layers above. A plain RNN's
    curve falls geometrically towards early steps (vanishing gradients); an LSTM
    whose forget gate stays near 1 keeps it flat far longer.

    Args:
        model_or_layer: a built or unbuilt recurrent cell (`zoo.layers.LSTMCell`,
            `GRUCell`, `keras.layers.SimpleRNNCell`, ...), a `keras.layers.RNN`
            (also `SimpleRNN`, `LSTM`, `GRU`) whose cell is then run, or a model
            with `step(ids_t, states) -> (logits_t, states)` and
            `initial_state(batch_size)` (`char-lstm`, `char-gru`).
        inputs: `[batch, time, features]` for a cell or layer; int ids
            `[batch, time]` for a model, or a string that the model's
            vocabulary encodes (one row).
        loss_fn: `loss_fn(outputs) -> scalar`, with `outputs` the outputs of all
            steps, `[batch, time, units]` (a cell or layer: `h_t`) or
            `[batch, time, vocabulary]` (a model: logits). By default the sum
            of the last step's outputs, whose gradient at `h_T` is all ones.
        layer: for a model, the recurrent layer whose `h_t` is measured.
        reduction: "mean" averages the per-example norms over the batch;
            "none" keeps them.

    Returns:
        A NumPy float array `[time]` ("mean") or `[batch, time]` ("none"):
        `||dLoss/dh_t||` for t = 1..T (the last entry is the step next to the
        loss). `gradient_flow_figure` draws it.

    Example:

    >>> import keras
    >>> from zoo.layers import LSTMCell
    >>> rnn = keras.layers.RNN(LSTMCell(8))
    >>> norms = gradient_flow(rnn, np.ones((2, 30, 3), "float32"))
    >>> norms.shape
    (30,)
    >>> bool(norms[0] < norms[-1])  # less gradient reaches the first step than the last
    True
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"`reduction` must be 'mean' or 'none', got {reduction!r}.")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be callable or None, got {type(loss_fn).__name__}.")
    step, states, inputs = _stepper(model_or_layer, inputs, layer)
    steps = inputs.shape[1]
    if not steps:
        raise ValueError(f"`inputs` must have at least one time step, got shape {tuple(inputs.shape)}.")
    with tf.GradientTape() as tape:
        hidden, outputs = [], []
        for t in range(steps):
            output, states, h = step(inputs[:, t], states)
            tape.watch(h)  # h_t is on the tape already when it depends on a variable; this makes sure
            hidden.append(h)
            outputs.append(output)
        loss = (loss_fn or _last_output_sum)(tf.stack(outputs, axis=1))
    grads = tape.gradient(loss, hidden, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    # [batch, time]: the norm over units of each example's gradient at each step
    norms = np.stack([tf.norm(tf.cast(tf.reshape(g, (g.shape[0], -1)), "float32"), axis=-1).numpy() for g in grads], 1)
    return norms.mean(0) if reduction == "mean" else norms


def gradient_flow_figure(norms, title=None, relative=True, ax=None, **plot_kwargs):
    """Gradient norm against time step, on a log scale: one curve, or one per label.

    Args:
        norms: `[time]` (as `gradient_flow` returns) or a dict from a label to
            such an array; curves of different lengths share the axis by their
            distance from the last step.
        title: optional title.
        relative: divide each curve by its value at the last step, so curves of
            differently scaled models compare (1.0 at the last step).
        ax: draw into this matplotlib axis instead of a new figure.
        **plot_kwargs: passed to `ax.plot` (e.g. `linestyle="--"`).

    Returns:
        The matplotlib figure (`to_png(fig)` gives PNG bytes).

    Example:

    >>> fig = gradient_flow_figure({"plain": 0.5 ** np.arange(20)[::-1], "gated": np.ones(20)})
    >>> len(fig.axes[0].lines)
    2
    """
    curves = dict(norms) if isinstance(norms, dict) else {None: norms}
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
    else:
        fig = ax.figure
    for label, curve in curves.items():
        curve = np.asarray(curve, np.float64)
        if curve.ndim != 1 or not curve.size:
            raise ValueError(f"`norms` must be a curve `[time]` (or a dict of them), got shape {curve.shape}"
                             f"{f' for {label!r}' if label is not None else ''}: gradient_flow's "
                             f"reduction='none' gives `[batch, time]`, one curve a row.")
        if relative and curve[-1] > 0:
            curve = curve / curve[-1]
        # x: steps before the end (0 = the last step); floor at the smallest float so log scale shows zeros
        ax.plot(np.arange(len(curve))[::-1], np.maximum(curve, np.finfo(np.float64).tiny), label=label, **plot_kwargs)
    ax.set_yscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("steps before the loss (T - t)")
    ax.set_ylabel("||dLoss/dh_t||" + (" / ||dLoss/dh_T||" if relative else ""))
    if any(label is not None for label in curves):
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def gradient_flow_png(model, text_or_ids, layer=0, title=None):
    """PNG bytes of the gradient flow of a char model over a text (for TensorBoard).

    The loss is the cross-entropy of the text's last character given all the
    others, so the curve shows how much each earlier character's state
    matters to that prediction's gradient.

    Args:
        model: a char model (`zoo.load("char-lstm")`, or one being trained).
        text_or_ids: a string (encoded with the model's vocabulary) or int ids
            `[time]` / `[batch, time]`, at least two characters long.
        layer: the recurrent layer measured.
        title: optional title.

    Returns:
        PNG bytes; `tf.summary.image(name, tf.image.decode_png(png)[None])`
        logs them.
    """
    ids = model.vocabulary.encode(text_or_ids) if isinstance(text_or_ids, str) else text_or_ids
    ids = np.asarray(ids, np.int32)
    ids = ids[None] if ids.ndim == 1 else ids
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise ValueError(f"`text_or_ids` must give at least 2 characters per row, got shape {ids.shape}.")
    targets = ids[:, -1]

    def loss_fn(logits):  # [batch, time, vocabulary]; predict the last character from the others
        last = tf.cast(logits[:, -1], "float32")
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=last))

    norms = gradient_flow(model, ids[:, :-1], loss_fn=loss_fn, layer=layer)
    title = title or f"gradient of the last character's loss at layer {layer}'s h_t"
    return to_png(gradient_flow_figure(norms, title=title))
