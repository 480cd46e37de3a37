"""The model families, and the catalogue that declares them.

`CATALOGUE` declares each shipped architecture once: its name, the builder
function that makes it ("module:function"), its task and its description. It
is plain data (this file imports nothing), so listing models and reading their
cards never imports TensorFlow: `zoo.registry` reads it, and imports a
builder's module only when the model is built or loaded.

Adding a model: write its builder (a function returning the family's model)
at the bottom of its family file, then add its entry here.
"""

SEQ2SEQ = "zoo.models.seq2seq"
CHAR_RNN = "zoo.models.char_rnn"
CAPTIONER = "zoo.models.captioner"

# name -> (builder "module:function", task, description)
CATALOGUE = {
    "lstm-seq2seq-attn": (
        f"{SEQ2SEQ}:lstm_seq2seq_attn", "translation",
        "Bidirectional LSTM encoder, LSTM decoder with Bahdanau attention and input feeding",
    ),
    "gru-seq2seq-attn": (
        f"{SEQ2SEQ}:gru_seq2seq_attn", "translation",
        "Bidirectional GRU encoder, GRU decoder with Bahdanau attention and input feeding",
    ),
    "lstm-seq2seq-attn-en-es": (
        f"{SEQ2SEQ}:lstm_seq2seq_attn_en_es", "translation",
        "lstm-seq2seq-attn for English to Spanish, trained on Tatoeba's spa-eng pairs",
    ),
    "lstm-seq2seq": (
        f"{SEQ2SEQ}:lstm_seq2seq", "translation",
        "Bidirectional LSTM encoder, LSTM decoder without attention (baseline)",
    ),
    "char-lstm": (
        f"{CHAR_RNN}:char_lstm", "text-generation",
        "Character language model: embedding, stacked LSTM layers, softmax over characters",
    ),
    "char-gru": (
        f"{CHAR_RNN}:char_gru", "text-generation",
        "Character language model: embedding, stacked GRU layers, softmax over characters",
    ),
    "sat-lstm-squeezenet": (
        f"{CAPTIONER}:sat_lstm_squeezenet", "captioning",
        "Show, attend and tell: SqueezeNet v1.1 feature grid, LSTM decoder with Bahdanau attention",
    ),
    "lstm-squeezenet": (
        f"{CAPTIONER}:lstm_squeezenet", "captioning",
        "SqueezeNet v1.1 mean feature, LSTM decoder without attention (baseline)",
    ),
}
