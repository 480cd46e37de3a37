"""zoo.viz's figures draw what they are given, and name what does not fit."""

import numpy as np
import pytest

from zoo import viz


def test_attention_figure_draws_the_weights_of_the_pieces_and_names_a_short_matrix():
    weights = np.arange(12, dtype=np.float32).reshape(3, 4) / 12
    fig = viz.attention_figure(["\u2581a", "b", "c"], ["x", "y"], weights)
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), weights[:2, :3])  # outputs down, sources across
    assert [t.get_text() for t in ax.get_xticklabels()] == ["_a", "b", "c"]
    with pytest.raises(ValueError, match=r"`weights` must be `\[len\(output_pieces\), len\(source_pieces\)\]` = "
                                         r"\[2, 5\] \(or larger\), got shape \(3, 4\)"):
        viz.attention_figure(list("abcde"), ["x", "y"], weights)


def test_gate_figure_averages_units_and_names_a_gate_of_another_length():
    gates = {"forget": np.array([[0.0, 1.0], [1.0, 1.0], [0.2, 0.4]]), "input": np.array([0.1, 0.2, 0.3])}
    fig = viz.gate_figure("a\nc", gates)
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), [[0.5, 1.0, 0.3], [0.1, 0.2, 0.3]])
    assert fig.axes[0].images[0].get_clim() == (0.0, 1.0) and len(fig.axes) == 2  # gates in [0, 1], a colour bar
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "\u21b5", "c"]  # a line break shown
    # a cell state is not a gate: the scale is centred on 0 and reaches its largest value, not clipped to [0, 1]
    fig = viz.gate_figure("abc", {"cell": np.array([-3.0, 0.5, 1.5])})
    assert fig.axes[0].images[0].get_clim() == (-3.0, 3.0)
    with pytest.raises(ValueError, match=r"`gates\['input'\]` must be .* len\(text\) = 3, got shape \(4,\)"):
        viz.gate_figure("abc", {"input": np.zeros(4)})


def test_caption_attention_figure_shows_the_image_and_a_map_per_word():
    image, maps = np.full((8, 6, 3), 255, np.uint8), np.random.default_rng(0).random((2, 3, 3))
    fig = viz.caption_attention_figure(image, ["a", "dog"], maps, columns=2)
    assert [ax.get_title() for ax in fig.axes] == ["image", "a", "dog", ""]
    with pytest.raises(ValueError, match=r"`image` must be `\[height, width, 3\]`, got shape \(8, 6\)"):
        viz.caption_attention_figure(image[..., 0], ["a"], maps)
    with pytest.raises(ValueError, match=r"`weights` must hold a map per word \(3\), got 2"):
        viz.caption_attention_figure(image, ["a", "dog", "runs"], maps)
