"""Greedy and beam-search decoding shared by every model family.

Both work on a batch at once through a `step_fn(tokens, state) -> (log_probs,
attention, state)` that advances every row one token: `tokens` is `[n]` int32,
`state` a list of `[n, ...]` tensors, `log_probs` `[n, vocab]`, `attention`
`[n, src_len]` or None. Beam search adds a length penalty, which
`keras_hub.samplers.BeamSampler` does not have.
"""

import numpy as np
from keras import ops


def repeat_beams(tensors, beam_size):
    """Repeats each row `beam_size` times: `[b, ...] -> [b * beam_size, ...]`."""
    return [ops.repeat(t, beam_size, axis=0) for t in tensors]


def length_penalty(length, alpha):
    """GNMT length penalty (Wu et al. 2016): `((5 + length) / 6) ** alpha`."""
    return ((5.0 + length) / 6.0) ** alpha


def greedy(step_fn, state, batch_size, bos, eos, max_length):
    """Returns `(sequences, attention)`: lists of int arrays (without bos/eos)
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


def beam_search(step_fn, state, batch_size, beam_size, bos, eos, max_length,
                alpha=0.6):
    """Batched beam search with the GNMT length penalty.

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
