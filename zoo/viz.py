"""Pictures people would rather look at than read: attention and gate heatmaps,
and where a captioner looked for each word."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _clean(pieces):
    return [p.replace("\u2581", "_") for p in pieces]


def attention_figure(source_pieces, output_pieces, weights, title=None):
    """Heatmap of `weights` `[len(output), len(source)]`: outputs down, sources across."""
    weights = np.asarray(weights)[: len(output_pieces), : len(source_pieces)]
    fig, ax = plt.subplots(figsize=(0.35 * len(source_pieces) + 2, 0.3 * len(output_pieces) + 1.5))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_pieces)), _clean(source_pieces), rotation=90, fontsize=8)
    ax.set_yticks(range(len(output_pieces)), _clean(output_pieces), fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def gate_figure(text, gates, title=None):
    """Rows of per-character gate activations: `gates` maps a name to `[len(text)]`
    or `[len(text), units]` (then averaged over units)."""
    names = list(gates)
    rows = np.stack([np.asarray(gates[n]).reshape(len(text), -1).mean(-1) for n in names])
    fig, ax = plt.subplots(figsize=(0.16 * len(text) + 1.5, 0.45 * len(names) + 1.0))
    ax.imshow(rows, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(text)), [c if c.strip() else "\u2423" for c in text], fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def caption_attention_figure(image, words, weights, title=None, columns=5):
    """The image once per word, with the attention of that word over it:
    `image` `[H, W, 3]` in [0, 255], `weights` `[len(words), h, w]`."""
    image = np.asarray(image, np.float32) / 255.0
    rows = -(-(len(words) + 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 2.1 * rows), squeeze=False)
    extent = (0, image.shape[1], image.shape[0], 0)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i == 0:
            ax.imshow(image, extent=extent)
            ax.set_title("image", fontsize=9)
        elif i <= len(words):
            ax.imshow(image, extent=extent)
            alpha = np.asarray(weights[i - 1], np.float32)
            ax.imshow(alpha / max(alpha.max(), 1e-8), cmap="magma", alpha=0.6, extent=extent, interpolation="bilinear")
            ax.set_title(words[i - 1], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def to_png(fig):
    """PNG bytes of a figure (and closes it)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
