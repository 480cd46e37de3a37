"""The model families, and the catalogue that declares them.

`CATALOGUE` maps each registered name to the module that defines it, its task
and its description. It is plain data (this file imports nothing), so listing
models and reading their cards never imports TensorFlow: `zoo.registry` reads
it, and imports a model's module only when the model is built or loaded. The
`@register` decorators at the bottom of each module must agree with it (the
registry refuses one that does not, and a test imports every module to check).

Adding a model: write its builder with `@register(...)` in its module, then add
one line here.
"""

SEQ2SEQ = "zoo.models.seq2seq"
CHAR_RNN = "zoo.models.char_rnn"
CAPTIONER = "zoo.models.captioner"

# name -> (module, task, description)
CATALOGUE = {
    "lstm-seq2seq-attn": (
        SEQ2SEQ, "translation",
        "Bidirectional LSTM encoder, LSTM decoder with Bahdanau attention and input feeding",
    ),
    "gru-seq2seq-attn": (
        SEQ2SEQ, "translation",
        "Bidirectional GRU encoder, GRU decoder with Bahdanau attention and input feeding",
    ),
    "lstm-seq2seq-attn-en-es": (
        SEQ2SEQ, "translation",
        "lstm-seq2seq-attn for English to Spanish, trained on Tatoeba's spa-eng pairs",
    ),
    "lstm-seq2seq": (
        SEQ2SEQ, "translation",
        "Bidirectional LSTM encoder, LSTM decoder without attention (baseline)",
    ),
    "char-lstm": (
        CHAR_RNN, "text-generation",
        "Character language model: embedding, stacked LSTM layers, softmax over characters",
    ),
    "char-gru": (
        CHAR_RNN, "text-generation",
        "Character language model: embedding, stacked GRU layers, softmax over characters",
    ),
    "sat-lstm-squeezenet": (
        CAPTIONER, "captioning",
        "Show, attend and tell: SqueezeNet v1.1 feature grid, LSTM decoder with Bahdanau attention",
    ),
    "lstm-squeezenet": (
        CAPTIONER, "captioning",
        "SqueezeNet v1.1 mean feature, LSTM decoder without attention (baseline)",
    ),
}
