import numpy as np
import pytest

from zoo.data import tokenizers
from zoo.data.pipeline import encode, translation_dataset
from zoo.data.translation import load_pairs


@pytest.mark.parametrize("split,size", [("train", 29000), ("val", 1014), ("test", 1000)])
def test_multi30k_sizes_and_alignment(mirror, split, size):
    sources, targets = load_pairs("de-en", split)
    assert len(sources) == len(targets) == size
    french, english = load_pairs("fr-en", split)
    assert english == targets  # the same English side for every pair


def test_spa_eng_split_is_fixed_disjoint_and_complete(mirror):
    splits = {s: load_pairs("en-es", s) for s in ("train", "val", "test")}
    sizes = {s: len(v[0]) for s, v in splits.items()}
    assert sizes == {"train": 108964, "val": 5000, "test": 5000}
    assert load_pairs("en-es", "test") == splits["test"]  # seeded: same every time
    es_en = load_pairs("es-en", "val")
    assert es_en == (splits["val"][1], splits["val"][0])


def test_bad_pair_and_split_are_named():
    with pytest.raises(ValueError, match="`pair` must be one of"):
        load_pairs("de-xx", "train")
    with pytest.raises(ValueError, match="`split` must be one of"):
        load_pairs("de-en", "dev")


def test_sentencepiece_round_trip_is_lossless(tiny_corpus):
    sources, _ = tiny_corpus
    tok = tokenizers.tokenizer(tokenizers.train_sentencepiece(sources, 40))
    assert tok.id_to_token(tokenizers.PAD) == "<pad>"
    ids = encode(tok, sources, max_length=64, add_bos=True)
    for sentence, row in zip(sources, ids):
        assert row[0] == tokenizers.BOS and row[-1] == tokenizers.EOS
        text = tok.detokenize(row[1:-1])
        assert (text.numpy().decode() if hasattr(text, "numpy") else text) == sentence


def test_encode_truncates_and_keeps_eos(tiny_corpus):
    sources, _ = tiny_corpus
    tok = tokenizers.tokenizer(tokenizers.train_sentencepiece(sources, 40))
    ids = encode(tok, sources, max_length=4)
    assert max(len(r) for r in ids) == 4 and all(r[-1] == tokenizers.EOS for r in ids)


def test_dataset_shifts_targets_pads_and_buckets():
    rng = np.random.default_rng(0)
    sources = [rng.integers(4, 50, n).astype(np.int32) for n in rng.integers(2, 30, 200)]
    targets = [np.concatenate([[2], rng.integers(4, 50, n), [3]]).astype(np.int32)
               for n in rng.integers(2, 30, 200)]
    seen = 0
    for (src, tgt_in), tgt_out in translation_dataset(sources, targets, 16, shuffle=True, seed=1):
        src, tgt_in, tgt_out = src.numpy(), tgt_in.numpy(), tgt_out.numpy()
        assert (tgt_in[:, 0] == 2).all()
        assert tgt_in.shape == tgt_out.shape
        assert (tgt_in[:, 1:] == tgt_out[:, :-1]).all()
        assert (src != 0).any(axis=1).all() and (src[:, -1] != 0).any()  # padded to batch max only
        seen += len(src)
    assert seen == 200


def test_dataset_rejects_misaligned_inputs():
    with pytest.raises(ValueError, match="same length"):
        translation_dataset([np.ones(2, np.int32)], [], 4)


def test_sampled_segmentations_decode_to_the_text_and_repeat_with_the_seed(tiny_corpus):
    sources, _ = tiny_corpus
    proto = tokenizers.train_sentencepiece(sources * 5, 60)
    tok = tokenizers.tokenizer(proto)
    best = encode(tok, sources, max_length=64)
    draws = [tokenizers.sample_sentencepiece(proto, sources, alpha=0.1, seed=s) for s in (1, 1, 2)]
    assert draws[0] == draws[1] and draws[0] != draws[2]  # the seed alone decides
    assert any(list(d) != list(b[:-1]) for d, b in zip(draws[2], best))  # not the best segmentation only
    for draw in draws:
        for sentence, ids in zip(sources, draw):
            text = tok.detokenize(np.array(ids, np.int32))
            assert (text.numpy().decode() if hasattr(text, "numpy") else text) == sentence


def test_resampled_passes_keep_the_batches_and_their_pairs():
    rng = np.random.default_rng(0)
    sources = [rng.integers(4, 50, n).astype(np.int32) for n in rng.integers(2, 30, 200)]
    targets = [np.concatenate([[2], rng.integers(4, 50, n), [3]]).astype(np.int32) for n in rng.integers(2, 30, 200)]

    def resample(epoch):  # a "segmentation" per pass: each pair's ids tagged with the pass, one id longer
        return ([np.append(s, 1000 + epoch).astype(np.int32) for s in sources],
                [np.concatenate([t[:-1], [1000 + epoch], t[-1:]]).astype(np.int32) for t in targets])

    def passes(**kwargs):
        ds = translation_dataset(sources, targets, 16, shuffle=True, seed=3, epochs=range(2, 4), **kwargs)
        return [(s.numpy(), ti.numpy(), to.numpy()) for (s, ti), to in ds]

    plain, sampled = passes(), passes(resample=resample)
    assert len(plain) == len(sampled)  # bucketed by the plain lengths: the same batches every pass
    half = len(plain) // 2
    for k, ((s, ti, to), (rs, rti, rto)) in enumerate(zip(plain, sampled)):
        tag = 1002 if k < half else 1003  # pass 2, then pass 3
        assert len(s) == len(rs) and (rti[:, 1:] == rto[:, :-1]).all()
        t, rt = (np.concatenate([a[:, :1], b], 1) for a, b in ((ti, to), (rti, rto)))  # whole targets
        for row in range(len(s)):  # the same pair, in its pass's segmentation
            n, m = (s[row] != 0).sum(), (t[row] != 0).sum()
            assert rs[row, :n].tolist() == s[row, :n].tolist() and rs[row, n] == tag
            assert rt[row, : m - 1].tolist() == t[row, : m - 1].tolist() and rt[row, m - 1 :].tolist()[:2] == [tag, 3]
