"""Image captioning: "show, attend and tell" (Xu et al. 2015) on a CNN feature grid."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import decoding
from zoo.checks import positive_int, rate
from zoo.data.tokenizers import BOS, EOS, PAD, UNK, WordVocabulary
from zoo.layers import AttentionDecoder, BahdanauAttention, LSTMCell
from zoo.metrics import sum_over_replicas
from zoo.models.base import DeepOutput, ZooModel
from zoo.models.encoders import build_encoder
from zoo.tasks import captioning


@keras.saving.register_keras_serializable(package="zoo")
class MeanAttention(keras.layers.Layer):
    """No attention: every location weighs the same, the context is the mean
    feature. Stands in for `BahdanauAttention` in the baseline, so the two
    models differ in nothing else."""

    def build(self, query_shape=None, values_shape=None):
        self.built = True

    def project_keys(self, values):
        return values

    def call(self, query, values, keys=None, source_mask=None):
        locations = ops.shape(values)[1]
        weights = ops.ones(ops.shape(values)[:2], self.compute_dtype) / ops.cast(locations, self.compute_dtype)
        return ops.mean(values, axis=1), weights


@keras.saving.register_keras_serializable(package="zoo")
class WordDropout(keras.layers.Layer):
    """In training, replaces each word of the decoder's input by the unknown
    word with probability `rate` (word dropout, Bowman et al. 2016), so that
    the next word is predicted from the image more than from the words
    before; the start, end and padding ids are kept. Identity in inference."""

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, tokens, training=False):
        if not training or not self.rate:
            return tokens
        drop = keras.random.uniform(ops.shape(tokens), seed=self.seed_generator) < self.rate
        return ops.where(drop & (tokens > max(PAD, UNK, BOS, EOS)), ops.cast(UNK, tokens.dtype), tokens)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class Captioner(DeepOutput, ZooModel):
    """CNN encoder, LSTM decoder attending over the encoder's feature grid.

    encoder: images -> `[batch, h, w, c]` (frozen, see `zoo.models.encoders`)
             -> `[batch, h * w, c]` locations, layer-normalized
    state:   h_0, c_0 = tanh(W [mean of the locations])   (Xu et al. 2015)
    decoder: AttentionDecoder(LSTMCell, BahdanauAttention) with input feeding
             (`MeanAttention` instead when `attention=False`: the baseline)
    output:  logits = W_o dropout(tanh(W_p [h ; context ; word embedding]))

    Training adds the doubly stochastic attention penalty of Xu et al.,
    `attention_penalty * mean over locations of (1 - sum_t alpha_t)^2`, which
    asks the model to look at every part of the image over the caption.

    Training reads cached features (`encode_images` once per image, see the
    recipe), not images: call inputs are `(features, tokens_in)`.

    Args:
        vocabulary_size: words, with 0 padding, 1 unknown, 2 start, 3 end.
        encoder: a name of `zoo.models.encoders.ENCODERS`.
        image_size: side of the square images the encoder reads.
        encoder_weights: weights the encoder starts from ("imagenet", None or
            a file); not part of the config: a trained model carries them.
        attention: Bahdanau attention (True) or the mean feature (False).
        embedding_dim, units: word embedding and LSTM / attention sizes.
        dropout: on the features, embeddings and the output layer.
        attention_penalty: weight of the doubly stochastic penalty.
        word_dropout: in training, the share of input words replaced by the
            unknown word (`WordDropout`).

    Call arguments:
        inputs: `(features, tokens_in)`: float `[batch, locations, channels]`
            and int `[batch, length]` (start token first, padded with 0).
        training: with True, the attention `[batch, length, locations]` is
            returned too, for the penalty (`compute_loss`).

    Returns:
        logits `[batch, length, vocabulary_size]` (float32); `(logits,
        attention)` in training.
    """

    task = "captioning"

    def __init__(self, vocabulary_size=2000, encoder="squeezenet1.1", image_size=224, encoder_weights=None,
                 attention=True, embedding_dim=256, units=256, dropout=0.5, attention_penalty=1.0, word_dropout=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = positive_int("vocabulary_size", vocabulary_size)
        self.encoder_name, self.use_attention = encoder, attention
        self.image_size = positive_int("image_size", image_size)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.units = positive_int("units", units)
        self.dropout_rate = rate("dropout", dropout)
        if not isinstance(attention_penalty, (int, float)) or attention_penalty < 0:
            raise ValueError(f"`attention_penalty` must be a non-negative number, got {attention_penalty!r}.")
        self.attention_penalty = float(attention_penalty)
        self.word_dropout = WordDropout(rate("word_dropout", word_dropout), name="word_dropout")
        self.encoder = build_encoder(encoder, weights=encoder_weights, image_size=image_size)
        self.encoder.trainable = False
        self.feature_shape = self.encoder.feature_shape  # (h, w, channels)
        self.feature_norm = keras.layers.LayerNormalization(name="feature_norm")
        self.init_state = [keras.layers.Dense(units, activation="tanh", name=f"init_{s}") for s in ("h", "c")]
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        attend = BahdanauAttention(units) if attention else MeanAttention()
        self.decoder = AttentionDecoder(LSTMCell(units), attend, name="decoder")
        self.dropout = keras.layers.Dropout(dropout)
        self.pre_output = keras.layers.Dense(embedding_dim, activation="tanh", name="pre_output")
        self.output_layer = keras.layers.Dense(vocabulary_size, dtype="float32", name="logits")
        self.vocabulary = None

    # -- training graph ---------------------------------------------------------

    def build(self, input_shape=None):
        self.decoder.build((None, None, self.embedding_dim), (None, None, self.feature_shape[-1]))
        self.built = True

    def encode_images(self, images):
        """Float RGB `[batch, s, s, 3]` in [0, 255] -> features `[batch, h * w, c]`."""
        grid = self.encoder(ops.convert_to_tensor(images, "float32"), training=False)
        return ops.reshape(grid, (-1, self.feature_shape[0] * self.feature_shape[1], self.feature_shape[2]))

    def encode(self, features, training=False):
        """The search's encode hook (`ZooModel.encode`): cached features
        `[batch, locations, c]` -> `([values, keys, None], [h, c, context])`."""
        values = self.feature_norm(ops.convert_to_tensor(features))
        mean = ops.mean(values, axis=1)
        values = self.dropout(values, training=training)
        state = [layer(mean) for layer in self.init_state]
        return [values, self.decoder.project_keys(values), None], self.decoder.get_initial_state(values, state)

    def call(self, inputs, training=False):
        logits, attention = self._forward(inputs, training=training)
        return (logits, attention) if training else logits

    def attention_penalty_loss(self, tokens_in, attention):
        """The doubly stochastic penalty over the real words of the captions:
        this replica's share of its mean over the global batch (so that, like
        the cross-entropy, the gradients a strategy sums are one device's)."""
        mask = ops.cast(ops.not_equal(tokens_in, PAD), attention.dtype)[:, :, None]
        coverage = ops.cast(ops.sum(attention * mask, axis=1), "float32")  # [batch, locations]
        per_image = ops.mean((1.0 - coverage) ** 2, axis=-1)
        images = sum_over_replicas(ops.cast(ops.shape(per_image)[0], "float32"))
        return self.attention_penalty * ops.sum(per_image) / images

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # In training, `call` returns the attention too: the penalty is added
        # here, not with `add_loss`, whose per-layer state is shared by the
        # replicas MirroredStrategy traces side by side.
        if isinstance(y_pred, (tuple, list)):
            y_pred, attention = y_pred
            loss = super().compute_loss(x, y, y_pred, sample_weight, training)
            if self.use_attention and self.attention_penalty:
                loss = loss + self.attention_penalty_loss(x[1], attention)
            return loss
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y_pred = y_pred[0] if isinstance(y_pred, (tuple, list)) else y_pred
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def _forward(self, inputs, training=False):
        features, tokens_in = inputs
        (values, _, _), state = self.encode(features, training=training)
        embedded = self.dropout(self.embedding(self.word_dropout(tokens_in, training=training)), training=training)
        outputs, attention = self.decoder(embedded, values, initial_state=state[:-1], training=training)
        return self._logits(outputs, embedded, training=training), attention

    # -- inference ----------------------------------------------------------------

    def decode_step(self, tokens, state, memory):
        """One step for every row: `(log_probs, attention, new_state)`."""
        values, keys, _ = memory
        embedded = self.embedding(ops.convert_to_tensor(tokens))
        output, attention, state = self.decoder.step(embedded, state, values, keys)
        return ops.log_softmax(self._logits(output, embedded), axis=-1), attention, state

    def set_members(self, models):
        """Captions with `models` too, as one ensemble: at every step the mean
        of the models' log-probabilities (`zoo.decoding.ensemble_hooks`), the
        attention shown being this model's. Each is a trained `Captioner` with
        this model's vocabulary and image encoder (the images are encoded
        once); `()` captions alone again.

        Raises:
            TypeError: `models` is not a list of captioners.
            ValueError: a member with another vocabulary or encoder, or one
                that is an ensemble itself, naming its index.
        """
        models = self._check_members(models, "captioners")
        # Compared as saved (float16): a member loaded from disk has its encoder at that precision.
        mine = [np.asarray(w, np.float16) for w in self.encoder.get_weights()]
        for i, model in enumerate(models):
            if model.vocabulary != self.vocabulary:
                raise ValueError(f"`models[{i}]` has another vocabulary: an ensemble's members share their words.")
            theirs = [np.asarray(w, np.float16) for w in model.encoder.get_weights()]
            if (model.encoder_name, model.image_size) != (self.encoder_name, self.image_size) or any(
                    a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True)):
                raise ValueError(f"`models[{i}]` has another image encoder ({model.encoder_name}, "
                                 f"{model.image_size} px): an ensemble's members read the same features.")
        self._keep_members(models)

    def set_vocabulary(self, vocabulary):
        if vocabulary.size != self.vocabulary_size:
            raise ValueError(
                f"`vocabulary` has {vocabulary.size} ids but the model was built for {self.vocabulary_size}."
            )
        self.vocabulary = vocabulary

    def caption(self, images, **options):
        """Image files in, captions out: `zoo.tasks.captioning.caption(self, images, **options)`."""
        return captioning.caption(self, images, **options)

    def decode_features(self, features, beam_size=3, max_length=20, alpha=0.0, **options):
        """Cached features `[batch, locations, c]` -> `(word id arrays, attention)`,
        by the compiled search of `zoo.decoding.Decoder` (`options`: its masks
        and n-best arguments; the unknown word is never chosen by default)."""
        if beam_size == 1:
            return self.search.greedy(features, max_length, **options)
        return self.search.beam_search(features, beam_size, max_length, alpha, **options)

    @property
    def search(self):
        """The compiled greedy and beam search of this model (`zoo.decoding.Decoder`)."""
        if getattr(self, "_compiled_decoder", None) is None:
            locations = self.feature_shape[0] * self.feature_shape[1]
            encode, step = (decoding.ensemble_hooks([self, *self.members]) if self.members
                            else (lambda features: self.encode(features), self.decode_step))
            # XLA compiles the decode step: it fuses the additive attention's
            # elementwise work over [rows, locations, units]; with a fixed grid
            # of locations it compiles once per batch size, and beam 3 decodes
            # 1.45x faster than without (benchmarks/README.md). Translation's
            # source lengths change every batch, and there it is slower.
            self._compiled_decoder = decoding.Decoder(
                encode, step, tf.TensorSpec([None, locations, self.feature_shape[2]], tf.float32), BOS, EOS,
                unk=UNK, jit_compile=True,
            )
        return self._compiled_decoder

    # -- saving -----------------------------------------------------------------

    def build_for_inference(self):
        locations = self.feature_shape[0] * self.feature_shape[1]
        self((np.zeros((1, locations, self.feature_shape[2]), np.float32), np.ones((1, 2), np.int32)))

    def save_assets(self, directory):
        self._check_assets("vocabulary", "set_vocabulary(vocabulary)", self.vocabulary)
        Path(directory, "vocabulary.json").write_text(self.vocabulary.to_json(), encoding="utf-8")

    def load_assets(self, directory):
        # A missing or corrupt file is an error naming it.
        self.set_vocabulary(WordVocabulary.from_file(Path(directory, "vocabulary.json")))

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "encoder": self.encoder_name,
            "image_size": self.image_size,
            "attention": self.use_attention,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "dropout": self.dropout_rate,
            "attention_penalty": self.attention_penalty,
            "word_dropout": self.word_dropout.rate,
        }


def sat_lstm_squeezenet(**kwargs):
    return Captioner(**{"encoder": "squeezenet1.1", "attention": True, **kwargs})


def lstm_squeezenet(**kwargs):
    return Captioner(**{"encoder": "squeezenet1.1", "attention": False, **kwargs})

