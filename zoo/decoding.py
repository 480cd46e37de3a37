"""Greedy and beam-search decoding shared by every model family.

`Decoder` compiles the whole search into one TensorFlow graph per call
shape: the model's encode step, then a `tf.while_loop` (with
`maximum_iterations`) around its `decode_step(tokens, state, memory) ->
(log_probs, attention, state)` hook, which advances every row one token:
`tokens` is `[n]` int32, `state` a list of `[n, ...]` tensors, `log_probs`
`[n, vocab]`, `attention` `[n, src_len]` or None. Beam search is vectorized
over the batch (a top-k over `[batch, beam * vocab]`, finished hypotheses kept
in tensors) and uses the GNMT length penalty, which
`keras_hub.samplers.BeamSampler` does not have.

`greedy_reference` and `beam_search_reference` are the eager versions, one
step call at a time with the beam bookkeeping in NumPy: they are the oracles
the compiled search is tested against (it follows them exactly) and the speed
baseline of `benchmarks/decoding.py`.
"""

import numpy as np
import tensorflow as tf
from keras import ops

from zoo.checks import boolean, integer

# The most tokens one output may have: the search keeps `[rows, max_length]`
# buffers, and the models here were trained on outputs of at most 50 tokens.
MAX_OUTPUT_TOKENS = 1024


def require(condition, message):
    """Inside an exported graph: an InvalidArgumentError with `message` (which
    names the input) unless the boolean `condition` holds, so a SavedModel
    refuses what the Python API refuses."""
    return tf.debugging.Assert(tf.reduce_all(condition), [tf.constant(message)])


def refusing(checks, answer, refused):
    """Inside an exported graph: `answer()` when every `(condition, message)`
    of `checks` holds, otherwise an InvalidArgumentError with the first
    failing check's message (`refused()` only gives that branch its dtype and
    shape). Each check gates the next, and the answer, by a cond: control
    dependencies may be reordered by the graph optimizer, and a signature's
    static shape is trusted, not checked (a `[None]` input's reductions are
    built for rank 1), so a first shape check must hold before anything else
    of the input is reduced."""
    if not checks:
        return answer()
    (condition, message), rest = checks[0], checks[1:]

    def refuse():
        with tf.control_dependencies([require(condition, message)]):
            return tf.nest.map_structure(tf.identity, refused())

    return tf.cond(tf.reduce_all(condition), lambda: refusing(rest, answer, refused), refuse)


def valid_utf8(strings):
    """Per string: is it UTF-8 text (transcoding it replaces nothing)."""
    return tf.equal(tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace"), strings)


def repeat_beams(tensors, beam_size):
    """Repeats each row `beam_size` times: `[b, ...] -> [b * beam_size, ...]`."""
    return [ops.repeat(t, beam_size, axis=0) for t in tensors]


def length_penalty(length, alpha):
    """GNMT length penalty (Wu et al. 2016): `((5 + length) / 6) ** alpha`."""
    return ((5.0 + length) / 6.0) ** alpha


def greedy_reference(step_fn, state, batch_size, bos, eos, max_length):
    """Eager greedy decoding, one step call at a time: the test oracle of
    `Decoder.greedy`. Returns `(sequences, attention)`: lists of int arrays (without bos/eos)
    and of `[len, src_len]` arrays (or None)."""
    tokens = np.full(batch_size, bos, np.int32)
    done = np.zeros(batch_size, bool)
    steps, maps = [], []
    for _ in range(max_length):
        log_probs, attention, state = step_fn(tokens, state)
        tokens = np.argmax(ops.convert_to_numpy(log_probs), axis=-1).astype(np.int32)
        tokens[done] = eos
        steps.append(tokens)
        if attention is not None:
            maps.append(ops.convert_to_numpy(attention))
        done |= tokens == eos
        if done.all():
            break
    steps = np.stack(steps, axis=1)
    sequences, attentions = [], []
    for b in range(batch_size):
        n = int(np.argmax(steps[b] == eos)) if (steps[b] == eos).any() else steps.shape[1]
        sequences.append(steps[b, :n])
        attentions.append(np.stack([m[b] for m in maps[: n + 1]]) if maps else None)
    return sequences, attentions


def beam_search_reference(step_fn, state, batch_size, beam_size, bos, eos, max_length, alpha=0.6):
    """Eager NumPy beam search with the GNMT length penalty: the test oracle
    (and the speed baseline) of `Decoder.beam_search`, which follows it exactly.

    `state` rows must already be repeated per beam (`repeat_beams`); rows of the
    same sentence stay together (row `b * beam_size + k`), so anything shared by
    the beams of a sentence (encoder outputs) never needs reordering. A
    hypothesis ends at `eos` or at `max_length` tokens and is ranked by
    `log p / length_penalty(t)`, `t` counting its steps (the `eos` included);
    the search for a sentence stops once no live beam can beat its finished ones.

    Returns `(sequences, attention)` like `greedy`: the best hypothesis per
    sentence.
    """
    k, n = beam_size, batch_size * beam_size
    scores = np.full((batch_size, k), -np.inf)
    scores[:, 0] = 0.0  # all beams start identical: keep only one alive
    tokens = np.full(n, bos, np.int32)
    history = np.zeros((batch_size, k, 0), np.int32)
    attn_history = None
    finished = [[] for _ in range(batch_size)]  # (normalized score, tokens, attention)
    done = np.zeros(batch_size, bool)
    for t in range(1, max_length + 1):
        log_probs, attention, state = step_fn(tokens, state)
        log_probs = ops.convert_to_numpy(ops.cast(log_probs, "float32"))
        vocab = log_probs.shape[-1]
        total = (scores[:, :, None] + log_probs.reshape(batch_size, k, vocab)).reshape(batch_size, -1)
        top = np.argsort(-total, axis=1)[:, : 2 * k]  # enough to refill k beams
        if attention is not None:
            attention = ops.convert_to_numpy(attention).reshape(batch_size, k, 1, -1)
            step_attn = attention if attn_history is None else np.concatenate([attn_history, attention], 2)
        origin = np.zeros((batch_size, k), np.int64)
        new_tokens = np.full((batch_size, k), eos, np.int32)
        new_scores = np.full((batch_size, k), -np.inf)
        for b in range(batch_size):
            if done[b]:
                continue
            filled = 0
            for flat in top[b]:
                score = total[b, flat]
                if not np.isfinite(score):
                    break
                beam, token = divmod(int(flat), vocab)
                if token == eos or t == max_length:
                    seq = history[b, beam] if token == eos else np.append(history[b, beam], token)
                    maps = None if attention is None else step_attn[b, beam, : len(seq) + 1]
                    finished[b].append((score / length_penalty(t, alpha), seq, maps))
                    continue
                origin[b, filled], new_tokens[b, filled] = beam, token
                new_scores[b, filled] = score
                filled += 1
                if filled == k:
                    break
            best_alive = new_scores[b].max()
            bound = best_alive / length_penalty(max_length, alpha) if alpha > 0 else best_alive
            best_done = max((f[0] for f in finished[b]), default=-np.inf)
            if len(finished[b]) >= k and best_done >= bound or not np.isfinite(best_alive):
                done[b] = True
        if done.all():
            break
        rows = (np.arange(batch_size)[:, None] * k + origin).reshape(-1)
        history = np.concatenate([np.take_along_axis(history, origin[:, :, None], 1), new_tokens[:, :, None]], 2)
        if attention is not None:
            attn_history = np.take_along_axis(step_attn, origin[:, :, None, None], 1)
        scores, tokens = new_scores, new_tokens.reshape(-1)
        state = [ops.take(s, rows, axis=0) for s in state]
    sequences, attentions = [], []
    for b in range(batch_size):
        _, seq, maps = max(finished[b], key=lambda f: f[0])
        sequences.append(np.asarray(seq, np.int32))
        attentions.append(maps)
    return sequences, attentions


# -- compiled search ------------------------------------------------------------


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _repeated_ngrams(history, length, n, vocab):
    """`[rows, vocab]` bool: the tokens that, appended to `history[:, :length]`,
    would repeat one of its n-grams (`no_repeat_ngram_size` of OpenNMT and
    Hugging Face)."""
    rows, width = tf.shape(history)[0], tf.shape(history)[1]
    starts = tf.maximum(width - n + 1, 0)  # n-gram start positions in the buffer
    prefix = tf.gather(history, tf.maximum(length - n + 1 + tf.range(n - 1), 0), axis=1)  # [rows, n - 1]
    # n-gram i is history[i : i + n], complete within the first `length` tokens
    match = tf.broadcast_to(tf.range(starts)[None, :] <= length - n, [rows, starts])
    for j in range(n - 1):
        match &= tf.equal(history[:, j : j + starts], prefix[:, j : j + 1])
    following = history[:, n - 1 : n - 1 + starts]  # the token each match forbids
    row_ids = tf.broadcast_to(tf.range(rows)[:, None], [rows, starts])
    indices = tf.reshape(tf.stack([row_ids, following], -1), [-1, 2])
    counts = tf.scatter_nd(indices, tf.reshape(tf.cast(match, tf.int32), [-1]), [rows, vocab])
    return counts > 0


def search_options(min_length=0, no_repeat_ngram_size=0, allow_unk=False):
    """The masks a public `translate`/`caption` passes to `Decoder`, checked
    (the argument, the value and what is allowed)."""
    return {"min_length": integer("min_length", min_length, minimum=0),
            "no_repeat_ngram_size": integer("no_repeat_ngram_size", no_repeat_ngram_size, minimum=0),
            "allow_unk": boolean("allow_unk", allow_unk)}


def ensemble_hooks(models):
    """`(encode_fn, step_fn)` that decode with several models as one, for
    `Decoder`: each model's memory and state side by side, and at every step
    the mean of the models' log-probabilities (OpenNMT's ensemble decoding;
    the models share the target vocabulary). The attention returned is the
    first model's."""
    models = list(models)
    sizes = []  # (memory entries, state entries) per model, set by encode

    def encode(inputs):
        memory, state = [], []
        sizes.clear()
        for model in models:
            m, s = model.encode(inputs)
            memory, state = memory + list(m), state + list(s)
            sizes.append((len(m), len(s)))
        return memory, state

    def step(tokens, state, memory):
        log_probs, attention, new_state, i, j = [], None, [], 0, 0
        for model, (nm, ns) in zip(models, sizes, strict=True):
            lp, att, s = model.decode_step(tokens, state[j : j + ns], memory[i : i + nm])
            log_probs.append(tf.cast(lp, tf.float32))
            attention = att if attention is None else attention
            new_state += list(s)
            i, j = i + nm, j + ns
        return tf.reduce_mean(tf.stack(log_probs), 0), attention, new_state

    return encode, step


class Decoder:
    """Greedy and beam search compiled into TensorFlow graphs.

    One `tf.function` per search setting (beam width, n-best size, masks),
    each with an input signature whose batch and length dimensions are free,
    so new batch sizes, source lengths or `max_length` values reuse the graph
    instead of tracing it again. `greedy` and `beam_search` follow
    `greedy_reference` and `beam_search_reference` exactly (same hypotheses,
    same stopping rule), with masks added before the choice: the unknown
    token (unless `allow_unk`), the end token before `min_length` tokens, and
    tokens that would repeat an n-gram (`no_repeat_ngram_size`).

    Args:
        encode_fn: `inputs -> (memory, state)`, lists of `[batch, ...]`
            tensors (memory entries may be None).
        step_fn: `(tokens, state, memory) -> (log_probs, attention, state)`,
            the model's `decode_step`.
        input_spec: a `tf.TensorSpec` of the inputs of `encode_fn`, batch first.
        bos, eos: start and end token ids.
        unk: the unknown token id (None: nothing to mask).
        attention: whether `step_fn` returns attention weights.
        jit_compile: compile `step_fn` with XLA.

    Example (a model whose next token depends only on the last one):

    >>> table = tf.math.log([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2]])
    >>> step = lambda tokens, state, memory: (tf.gather(table, tokens), None, state)
    >>> encode = lambda inputs: ([], [tf.zeros_like(inputs[:, 0])])
    >>> decoder = Decoder(encode, step, tf.TensorSpec([None, 1], tf.int32), bos=0, eos=1, attention=False)
    >>> decoder.greedy(tf.zeros([1, 1], tf.int32), max_length=5)[0]
    [array([2, 0, 2, 0, 2], dtype=int32)]
    >>> decoder.beam_search(tf.zeros([1, 1], tf.int32), 2, max_length=5, alpha=0.0)[0]
    [array([2], dtype=int32)]
    """

    def __init__(self, encode_fn, step_fn, input_spec, bos, eos, unk=None, attention=True, jit_compile=False):
        if not isinstance(input_spec, tf.TensorSpec):
            raise TypeError(f"`input_spec` must be a tf.TensorSpec, got {type(input_spec).__name__}.")
        self.encode_fn, self.input_spec = encode_fn, input_spec
        self.eager_step_fn = step_fn  # what the eager reference runs, one call per step
        self.step_fn = tf.function(step_fn, jit_compile=True) if jit_compile else step_fn
        self.bos, self.eos, self.unk = int(bos), int(eos), None if unk is None else int(unk)
        self.attention, self.jit_compile = bool(attention), bool(jit_compile)
        self._functions = {}

    # -- public -------------------------------------------------------------------

    def greedy(self, inputs, max_length, min_length=0, allow_unk=False, no_repeat_ngram_size=0,
               return_attention=True, return_scores=False):
        """Greedy decoding of a batch.

        Args:
            inputs: a batch for `encode_fn`.
            max_length: most tokens per output (the end token included).
            min_length: fewest tokens before the end token may be chosen.
            allow_unk: whether the unknown token may be chosen.
            no_repeat_ngram_size: if > 0, no n-gram of this size occurs twice.
            return_attention: also return the attention of each output.
            return_scores: also return each output's log-probability.

        Returns:
            `(sequences, attention)`, like `greedy_reference`: int arrays
            without start and end tokens, and `[len + 1, src_len]` arrays (the
            end token's row last; None without attention); `(sequences,
            attention, scores)` with `return_scores`.
        """
        max_length, min_length, ngram = self._check(max_length, min_length, no_repeat_ngram_size)
        attend = self.attention and return_attention
        key = ("greedy", bool(allow_unk), ngram, attend)
        if key not in self._functions:
            self._functions[key] = self._compile(
                lambda *args: self._greedy_graph(*args, allow_unk=bool(allow_unk), ngram=ngram, attend=attend)
            )
        steps, scores, maps = (
            x.numpy() for x in self._functions[key](self._inputs(inputs), max_length, 0.0, min_length)
        )
        sequences, attentions = [], []
        for b in range(len(steps)):
            ended = steps[b] == self.eos
            n = int(np.argmax(ended)) if ended.any() else len(steps[b])
            sequences.append(steps[b, :n])
            attentions.append(maps[: n + 1, b] if attend else None)
        return (sequences, attentions, list(scores)) if return_scores else (sequences, attentions)

    def beam_search(self, inputs, beam_size, max_length, alpha=0.6, min_length=0, allow_unk=False,
                    no_repeat_ngram_size=0, num_return_sequences=1, return_attention=True, return_scores=False):
        """Beam search of a batch with the GNMT length penalty.

        Hypotheses end at the end token or at `max_length` tokens and are
        ranked by `log p / length_penalty(steps, alpha)`; a sentence's search
        stops once `beam_size` hypotheses have ended and no live beam can beat
        the best of them, the whole search once every sentence has stopped.

        Args:
            inputs: a batch for `encode_fn`.
            beam_size: the beam width.
            max_length, min_length, allow_unk, no_repeat_ngram_size: as in `greedy`.
            alpha: length penalty exponent (0: none).
            num_return_sequences: hypotheses returned per input (at most
                `beam_size`), best first.
            return_attention, return_scores: as in `greedy`; scores are the
                normalized log-probabilities the hypotheses are ranked by.

        Returns:
            `(sequences, attention)` (and `scores`) like `greedy`; with
            `num_return_sequences > 1`, each entry is a list, best first.
        """
        beam_size = _check_int("beam_size", beam_size, 1)
        keep = _check_int("num_return_sequences", num_return_sequences, 1)
        if keep > beam_size:
            raise ValueError(
                f"`num_return_sequences` must be at most `beam_size` ({beam_size}), got {num_return_sequences}."
            )
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)):
            raise ValueError(f"`alpha` must be a number, got {alpha!r}.")
        max_length, min_length, ngram = self._check(max_length, min_length, no_repeat_ngram_size)
        attend = self.attention and return_attention
        key = ("beam", beam_size, keep, bool(allow_unk), ngram, attend)
        if key not in self._functions:
            self._functions[key] = self._compile(
                lambda *args: self._beam_graph(
                    *args, k=beam_size, keep=keep, allow_unk=bool(allow_unk), ngram=ngram, attend=attend
                )
            )
        out = self._functions[key](self._inputs(inputs), max_length, float(alpha), min_length)
        seqs, lengths, scores, ends, slots, maps, origins = (x.numpy() for x in out)
        sequences, attentions, values = [], [], []
        for b in range(len(seqs)):
            # none only when masks forbid every token: then an empty output
            found = [j for j in range(keep) if np.isfinite(scores[b, j])] or [0]
            sequences.append([seqs[b, j, : lengths[b, j]] for j in found])
            attentions.append([_backtrack(maps, origins, b, ends[b, j], slots[b, j]) if attend else None
                               for j in found])
            values.append([float(scores[b, j]) for j in found])
        if keep == 1:
            sequences, attentions, values = ([x[0] for x in v] for v in (sequences, attentions, values))
        return (sequences, attentions, values) if return_scores else (sequences, attentions)

    def reference(self, inputs, beam_size, max_length, alpha=0.6, min_length=0, allow_unk=False):
        """The same search run eagerly by `greedy_reference` (`beam_size` 1) or
        `beam_search_reference`, with the same masks: the oracle and the
        speed baseline of the compiled search."""
        beam_size = _check_int("beam_size", beam_size, 1)
        max_length, min_length, _ = self._check(max_length, min_length, 0)
        memory, state = self.encode_fn(self._inputs(inputs))
        batch = len(state[0])
        if beam_size > 1:
            memory = [None if m is None else ops.repeat(m, beam_size, axis=0) for m in memory]
            state = repeat_beams(state, beam_size)
        calls = [0]

        def step(tokens, state):
            log_probs, attention, state = self.eager_step_fn(tokens, state, memory)
            calls[0] += 1
            banned = [self.eos] if calls[0] <= min_length else []
            banned += [self.unk] if self.unk is not None and not allow_unk else []
            if banned:
                log_probs = ops.convert_to_numpy(ops.cast(log_probs, "float32")).copy()
                log_probs[:, banned] = -np.inf
            return log_probs, attention if self.attention else None, state

        if beam_size == 1:
            return greedy_reference(step, state, batch, self.bos, self.eos, max_length)
        return beam_search_reference(step, state, batch, beam_size, self.bos, self.eos, max_length, alpha)

    def padded_tokens(self, inputs, max_length, beam_size=1, alpha=0.6, min_length=0, allow_unk=False,
                      no_repeat_ngram_size=0, pad=0):
        """The best output per input as one int32 tensor `[batch, steps]`,
        `pad` after its end (the end token dropped), for use inside another
        `tf.function` (the exports); `max_length`, `alpha` and `min_length`
        may be tensors."""
        max_length = tf.cast(max_length, tf.int32)
        alpha, min_length = tf.cast(alpha, tf.float64), tf.cast(min_length, tf.int32)
        ngram = _check_int("no_repeat_ngram_size", no_repeat_ngram_size, 0)
        if _check_int("beam_size", beam_size, 1) == 1:
            steps, _, _ = self._greedy_graph(inputs, max_length, alpha, min_length, allow_unk=bool(allow_unk),
                                             ngram=ngram, attend=False)
            before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(steps, self.eos), tf.int32), axis=1), 0)
            lengths = tf.reduce_sum(tf.cast(before_end, tf.int32), axis=1)
        else:
            seqs, lengths, *_ = self._beam_graph(inputs, max_length, alpha, min_length, k=beam_size, keep=1,
                                                 allow_unk=bool(allow_unk), ngram=ngram, attend=False)
            steps, lengths = seqs[:, 0], lengths[:, 0]
            steps = steps[:, : tf.reduce_max(tf.concat([lengths, [0]], 0))]
        inside = tf.range(tf.shape(steps)[1])[None, :] < lengths[:, None]
        return tf.where(inside, steps, pad)

    # -- graphs ---------------------------------------------------------------------

    def _check(self, max_length, min_length, no_repeat_ngram_size):
        max_length = integer("max_length", max_length, minimum=1, maximum=MAX_OUTPUT_TOKENS)
        min_length = _check_int("min_length", min_length, 0)
        if min_length >= max_length:
            raise ValueError(f"`min_length` must be below `max_length` ({max_length}), got {min_length}.")
        return max_length, min_length, _check_int("no_repeat_ngram_size", no_repeat_ngram_size, 0)

    def _inputs(self, inputs):
        return tf.convert_to_tensor(ops.convert_to_numpy(inputs), self.input_spec.dtype)

    def _compile(self, fn):
        scalar = lambda dtype: tf.TensorSpec([], dtype)  # noqa: E731
        signature = [self.input_spec, scalar(tf.int32), scalar(tf.float64), scalar(tf.int32)]
        return tf.function(fn, input_signature=signature, autograph=False)

    def _mask(self, log_probs, step, history, min_length, allow_unk, ngram):
        """Sets the log-probabilities of forbidden tokens to -inf (float32)."""
        log_probs = tf.cast(log_probs, tf.float32)
        vocab = tf.shape(log_probs)[1]
        ids = tf.range(vocab)
        banned = tf.equal(ids, self.eos) & (step <= min_length)
        if self.unk is not None and not allow_unk:
            banned |= tf.equal(ids, self.unk)
        log_probs = tf.where(banned[None, :], -np.inf, log_probs)
        if ngram:
            log_probs = tf.where(_repeated_ngrams(history, step - 1, ngram, vocab), -np.inf, log_probs)
        return log_probs

    def _greedy_graph(self, inputs, max_length, alpha, min_length, *, allow_unk, ngram, attend):
        memory, state = self.encode_fn(inputs)
        batch = tf.shape(inputs)[0]
        maps = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, None])
        start = (
            tf.constant(0),
            tf.fill([batch], self.bos),
            list(state),
            tf.zeros([batch], tf.bool),
            tf.fill([batch, max_length], self.eos),  # the tokens so far
            tf.zeros([batch], tf.float64),
            maps,
        )

        def body(t, tokens, state, done, history, scores, maps):
            log_probs, attention, state = self.step_fn(tokens, state, memory)
            log_probs = self._mask(log_probs, t + 1, history, min_length, allow_unk, ngram)
            tokens = tf.where(done, self.eos, tf.argmax(log_probs, axis=-1, output_type=tf.int32))
            chosen = tf.gather(log_probs, tokens, batch_dims=1)
            scores += tf.where(done, tf.zeros_like(scores), tf.cast(chosen, tf.float64))
            history = tf.where(tf.equal(tf.range(max_length), t)[None, :], tokens[:, None], history)
            if attend:
                maps = maps.write(t, tf.cast(attention, tf.float32))
            return t + 1, tokens, list(state), done | tf.equal(tokens, self.eos), history, scores, maps

        t, _, _, _, history, scores, maps = tf.while_loop(
            lambda t, tokens, state, done, *_: ~tf.reduce_all(done), body, start, maximum_iterations=max_length
        )
        maps = maps.stack() if attend else tf.zeros([0, batch, 0])  # [steps, batch, src_len]
        return history[:, :t], scores, maps

    def _beam_graph(self, inputs, max_length, alpha, min_length, *, k, keep, allow_unk, ngram, attend):
        memory, state = self.encode_fn(inputs)
        memory = [None if m is None else tf.repeat(m, k, axis=0) for m in memory]
        state = [tf.repeat(s, k, axis=0) for s in state]  # row b * k + j: beam j of sentence b
        batch = tf.shape(inputs)[0]
        neg = tf.constant(-np.inf, tf.float64)
        penalty = lambda length: ((5.0 + tf.cast(length, tf.float64)) / 6.0) ** alpha  # noqa: E731
        bound_penalty = tf.where(alpha > 0, penalty(max_length), tf.constant(1.0, tf.float64))
        positions = tf.range(max_length)[None, None, :]

        def body(t, tokens, state, scores, history, fin, count, done, maps, origins):
            step = t + 1
            log_probs, attention, state = self.step_fn(tokens, state, memory)
            flat_history = tf.reshape(history, [batch * k, max_length])
            log_probs = self._mask(log_probs, step, flat_history, min_length, allow_unk, ngram)
            static_vocab = log_probs.shape[-1]
            per_row = 2 * k if static_vocab is None else min(2 * k, static_vocab)
            candidates = 2 * k if static_vocab is None else min(2 * k, k * static_vocab)  # enough to refill k beams
            # The best 2k of a sentence's [k * vocab] continuations are among the best 2k of each beam, so
            # the float64 sums and the sentence-wide top-k cover [k * 2k] values, not [k * vocab]; ties
            # still go to the lower beam, then the lower token, as in one top-k over [k * vocab].
            row_values, row_tokens = tf.math.top_k(log_probs, per_row)  # [batch * k, 2k]
            total = scores[:, :, None] + tf.reshape(tf.cast(row_values, tf.float64), [batch, k, per_row])
            values, flat = tf.math.top_k(tf.reshape(total, [batch, k * per_row]), candidates)  # [batch, 2k]
            beam = flat // per_row
            token = tf.gather(tf.reshape(row_tokens, [batch, k * per_row]), flat, batch_dims=1)
            finite = values > neg
            ends = tf.equal(token, self.eos) | (step >= max_length)
            open_ = ~done[:, None]
            live = finite & ~ends & open_
            live_rank = tf.cumsum(tf.cast(live, tf.int32), axis=1, exclusive=True)
            seen = live_rank < k  # candidates past the k-th live one are never looked at, ended ones included
            take = live & seen
            finish = finite & ends & open_ & seen

            # the k new beams, in candidate order
            slot = take[:, :, None] & tf.equal(live_rank[:, :, None], tf.range(k)[None, None, :])  # [batch, 2k, k]
            filled = tf.reduce_any(slot, axis=1)
            pick = tf.argmax(tf.cast(slot, tf.int32), axis=1, output_type=tf.int32)  # [batch, k]
            new_scores = tf.where(filled, tf.gather(values, pick, batch_dims=1), neg)
            new_tokens = tf.where(filled, tf.gather(token, pick, batch_dims=1), self.eos)
            origin = tf.where(filled, tf.gather(beam, pick, batch_dims=1), 0)

            # ended hypotheses join the `keep` best so far (earlier ones first on ties)
            ended_seqs = tf.gather(history, beam, batch_dims=1)  # [batch, 2k, max_length]
            appended = tf.equal(positions, step - 1) & tf.not_equal(token, self.eos)[:, :, None]
            ended_seqs = tf.where(appended, token[:, :, None], ended_seqs)
            ended = (
                tf.where(finish, values / penalty(step), neg),
                ended_seqs,
                tf.where(tf.equal(token, self.eos), step - 1, step),  # length
                tf.fill(tf.shape(token), step),  # the step it ended at
                beam,  # and its beam then, to trace its attention back
            )
            merged = [tf.concat([a, b], axis=1) for a, b in zip(fin, ended)]
            fin_scores, best = tf.math.top_k(merged[0], keep)
            fin = [fin_scores] + [tf.gather(m, best, batch_dims=1) for m in merged[1:]]
            count += tf.reduce_sum(tf.cast(finish, tf.int32), axis=1)

            best_alive = tf.reduce_max(new_scores, axis=1)
            stop = (count >= k) & (fin_scores[:, 0] >= best_alive / bound_penalty) | ~(best_alive > neg)
            if attend:
                maps = maps.write(t, tf.reshape(tf.cast(attention, tf.float32), [batch, k, -1]))
                origins = origins.write(t, origin)

            rows = tf.reshape(tf.range(batch)[:, None] * k + origin, [-1])
            state = [tf.gather(s, rows) for s in state]
            history = tf.gather(history, origin, batch_dims=1)
            history = tf.where(tf.equal(positions, step - 1), new_tokens[:, :, None], history)
            return (step, tf.reshape(new_tokens, [-1]), state, new_scores, history, fin, count, done | stop,
                    maps, origins)

        start = (
            tf.constant(0),
            tf.fill([batch * k], self.bos),
            state,
            # all beams start identical: keep only one alive
            tf.concat([tf.zeros([batch, 1], tf.float64), tf.fill([batch, k - 1], neg)], axis=1),
            tf.fill([batch, k, max_length], self.eos),
            [
                tf.fill([batch, keep], neg),
                tf.fill([batch, keep, max_length], self.eos),
                tf.zeros([batch, keep], tf.int32),
                tf.zeros([batch, keep], tf.int32),
                tf.zeros([batch, keep], tf.int32),
            ],
            tf.zeros([batch], tf.int32),
            tf.zeros([batch], tf.bool),
            tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None, k, None]),
            tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None, k]),
        )
        *_, fin, _, _, maps, origins = tf.while_loop(
            lambda t, tokens, state, scores, history, fin, count, done, *_: ~tf.reduce_all(done),
            body, start, maximum_iterations=max_length,
        )
        if attend:
            maps, origins = maps.stack(), origins.stack()  # [steps, batch, k, src_len], [steps, batch, k]
        else:
            maps, origins = tf.zeros([0, batch, k, 0]), tf.zeros([0, batch, k], tf.int32)
        fin_scores, seqs, lengths, ends, slots = fin
        return seqs, lengths, fin_scores, ends, slots, maps, origins


def _backtrack(maps, origins, b, end, slot):
    """The attention rows `[end, src_len]` of the hypothesis of sentence `b`
    that ended at step `end` from beam `slot`, following its beams back."""
    rows = [np.zeros((0, maps.shape[-1]), np.float32)]  # no steps: no rows
    for step in range(int(end), 0, -1):
        rows.append(maps[step - 1, b, slot])
        if step > 1:
            slot = origins[step - 2, b, slot]
    return np.concatenate([r.reshape(-1, maps.shape[-1]) for r in rows[::-1]])
