import itertools

import numpy as np
import pytest
from keras import ops

from zoo import decoding

BOS, EOS, VOCAB = 0, 1, 4


def second_order_model(seed=0):
    """A toy step function whose distribution depends on the last two tokens,
    so a beam search that reorders its state wrongly gets different answers."""
    table = np.random.default_rng(seed).normal(size=(VOCAB, VOCAB, VOCAB)) * 2.0
    table[:, :, EOS] -= 3.0  # long hypotheses, so the state's history matters
    log_probs = table - np.log(np.exp(table).sum(-1, keepdims=True))

    def step(tokens, state):
        before = ops.convert_to_numpy(state[0])
        lp = log_probs[before, np.asarray(tokens)]
        return ops.convert_to_tensor(lp), None, [ops.convert_to_tensor(np.asarray(tokens, np.int32))]

    def score(sequence, ended):
        tokens, total = [BOS, BOS] + list(sequence) + ([EOS] if ended else []), 0.0
        for t in range(2, len(tokens)):
            total += log_probs[tokens[t - 2], tokens[t - 1], tokens[t]]
        return total

    return step, score


def exhaustive(score, max_length, alpha):
    """Best hypothesis by brute force: ended by EOS, or cut at max_length."""
    best, best_seq = -np.inf, None
    words = [w for w in range(VOCAB) if w != EOS]
    for n in range(max_length + 1):
        for seq in itertools.product(words, repeat=n):
            candidates = []
            if n < max_length:
                candidates.append((score(seq, True), n + 1))
            if n == max_length:
                candidates.append((score(seq, False), n))
            for s, steps in candidates:
                value = s / decoding.length_penalty(steps, alpha)
                if value > best:
                    best, best_seq = value, list(seq)
    return best_seq


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_finds_the_exhaustive_optimum(alpha, seed):
    step, score = second_order_model(seed)
    max_length = 4
    state = decoding.repeat_beams([np.full((2,), BOS, np.int32)], 64)
    sequences, _ = decoding.beam_search(step, state, 2, 64, BOS, EOS, max_length, alpha)
    expected = exhaustive(score, max_length, alpha)
    assert len(expected) >= 2
    for sequence in sequences:  # both batch rows are the same problem
        assert list(sequence) == expected


def test_greedy_equals_stepwise_argmax():
    step, score = second_order_model(3)
    sequences, _ = decoding.greedy(step, [np.full((1,), BOS, np.int32)], 1, BOS, EOS, 6)
    tokens, before, expected = BOS, BOS, []
    for _ in range(6):
        lp, _, _ = step(np.array([tokens]), [np.array([before])])
        before, tokens = tokens, int(np.argmax(ops.convert_to_numpy(lp)[0]))
        if tokens == EOS:
            break
        expected.append(tokens)
    assert list(sequences[0]) == expected


def test_beam_never_exceeds_max_length():
    step, _ = second_order_model(4)
    state = decoding.repeat_beams([np.full((3,), BOS, np.int32)], 3)
    sequences, _ = decoding.beam_search(step, state, 3, 3, BOS, EOS, 2, 0.6)
    assert all(len(s) <= 2 for s in sequences)


def test_length_penalty_is_gnmt():
    assert decoding.length_penalty(1, 0.6) == 1.0
    assert decoding.length_penalty(7, 1.0) == pytest.approx(2.0)
