"""Read the gate activations of a cell at every step of a sequence."""

from keras import ops
from keras.src.backend import AutocastScope


def gate_activations(cell, sequences, initial_state=None):
    """Runs `cell` over `sequences` and returns what each gate did at each step.

    Args:
        cell: a built `zoo.layers.LSTMCell` or `GRUCell` (anything with
            `gates(inputs, states) -> (output, states, dict)`).
        sequences: `[batch, time, input_dim]`.
        initial_state: optional list of states; zeros by default.

    Returns:
        `(outputs, gates)`: outputs `[batch, time, units]` and a dict from gate
        name ("forget", "input", "output", ... or "update", "reset", ...) to
        `[batch, time, units]`.

    Example:

    >>> import keras
    >>> from zoo.layers import LSTMCell
    >>> cell = LSTMCell(4)
    >>> rnn = keras.layers.RNN(cell)
    >>> _ = rnn(ops.ones((1, 3, 2)))
    >>> _, gates = gate_activations(cell, ops.ones((1, 3, 2)))
    >>> sorted(gates), ops.shape(gates["forget"])
    (['candidate', 'cell', 'forget', 'input', 'output'], (1, 3, 4))
    """
    if not callable(getattr(cell, "gates", None)):
        raise TypeError(
            "`cell` must be a zoo cell with a `gates` method (`zoo.layers.LSTMCell` or `GRUCell`; "
            f"`zoo_cell.set_weights(keras_cell.get_weights())` reads a Keras cell's weights), got "
            f"{type(cell).__name__}."
        )
    sequences = ops.convert_to_tensor(sequences, dtype=cell.compute_dtype)
    shape = tuple(sequences.shape)
    if len(shape) != 3 or not shape[1]:
        raise ValueError(
            f"`sequences` must be `[batch, time, input_dim]` with at least one time step, got shape {shape}."
        )
    if not cell.built:
        cell.build(tuple(sequences.shape[:1]) + tuple(sequences.shape[2:]))
    if initial_state is None:
        states = cell.get_initial_state(batch_size=ops.shape(sequences)[0])
    else:  # a list of states, or the one state of a GRU
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]

    def body(carry, x_t):
        output, new_states, gates = cell.gates(x_t, carry["states"])
        new_carry = {"states": new_states, "output": output, "gates": gates}
        return new_carry, new_carry  # keras.ops.scan needs ys shaped like the carry

    # `cell.gates` runs outside `Layer.__call__`, which is what casts the float32
    # variables to the compute dtype under a mixed policy (private, as
    # DropoutRNNCell in the cells): do the same here.
    with AutocastScope(cell.compute_dtype):
        output, _, gates = cell.gates(sequences[:, 0], states)
        init = {"states": states, "output": output, "gates": gates}
        _, per_step = ops.scan(body, init, ops.transpose(sequences, (1, 0, 2)))
    outputs = ops.transpose(per_step["output"], (1, 0, 2))
    gates = {k: ops.transpose(v, (1, 0, 2)) for k, v in per_step["gates"].items()}
    return outputs, gates
