"""Recurrent cells written gate by gate, and additive attention."""

from zoo.layers.attention_decoder import AttentionDecoder
from zoo.layers.bahdanau_attention import BahdanauAttention, masked_softmax
from zoo.layers.gates import gate_activations
from zoo.layers.gru_cell import GRUCell
from zoo.layers.lstm_cell import LSTMCell

__all__ = [
    "AttentionDecoder",
    "BahdanauAttention",
    "GRUCell",
    "LSTMCell",
    "gate_activations",
    "masked_softmax",
]
