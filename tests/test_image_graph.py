"""The captioner's SavedModel reads image files as `caption()` does: the
graph's pixels (`zoo.data.image_graph.load`) equal `load_image`'s, bit for
bit, for files of every kind it accepts, and what it cannot match it refuses
with the reason."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from zoo.data.flickr8k import load_image

tf = pytest.importorskip("tensorflow")


def _encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(height=300, width=451):
    """Smooth gradients with noise: a photo's statistics, at a size that is
    shrunk unevenly (both of Pillow's pass orders are taken, by the two
    orientations)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))


def _oriented(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(_photo(), "JPEG", exif=exif.tobytes())


def _transparent(mode):
    photo = _photo().convert("RGBA")
    photo.putalpha(Image.fromarray(np.random.default_rng(1).integers(0, 256, photo.size[::-1], np.uint8)))
    return _encode(photo.convert(mode), "PNG")


def _gray16():
    gray = np.asarray(_photo().convert("L")).astype(np.uint16) * 257
    return _encode(Image.fromarray(gray + np.random.default_rng(2).integers(0, 257, gray.shape).astype(np.uint16)),
                   "PNG")


def _palette(colors=64):
    return _photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=colors)


KINDS = {
    "jpeg": lambda: _encode(_photo(), "JPEG", quality=90),
    "jpeg progressive": lambda: _encode(_photo(), "JPEG", progressive=True),
    "jpeg 4:4:4": lambda: _encode(_photo(), "JPEG", subsampling=0),
    "jpeg gray": lambda: _encode(_photo().convert("L"), "JPEG"),
    "jpeg cmyk": lambda: _encode(_photo().convert("CMYK"), "JPEG"),
    **{f"jpeg exif orientation {o}": (lambda o=o: _oriented(o)) for o in range(1, 9)},
    "jpeg portrait": lambda: _encode(_photo(451, 300), "JPEG"),
    "jpeg upscaled": lambda: _encode(_photo(50, 100), "JPEG"),
    "png rgb": lambda: _encode(_photo(), "PNG"),
    "png rgba": lambda: _transparent("RGBA"),
    "png gray and alpha": lambda: _transparent("LA"),
    "png gray": lambda: _encode(_photo().convert("L"), "PNG"),
    "png 1-bit": lambda: _encode(_photo().convert("1"), "PNG"),
    "png 2-bit": lambda: _encode(_photo().convert("L"), "PNG", bits=2),
    "png 4-bit gray, a transparent gray": lambda: _encode(_photo().convert("L").point(lambda v: v // 17 * 17), "PNG",
                                                          bits=4, transparency=34),
    "png palette": lambda: _encode(_palette(), "PNG"),
    "png palette, a transparent color": lambda: _encode(_palette(), "PNG", transparency=3),
    "png 4-bit palette, a transparent color": lambda: _encode(_palette(16), "PNG", bits=4, transparency=2),
    "png gray, a transparent gray": lambda: _encode(_photo().convert("L"), "PNG", transparency=100),
    "png rgb, a transparent color": lambda: _encode(_photo(), "PNG", transparency=(10, 20, 30)),
    "png 16-bit gray": _gray16,
    "png 1 x 1": lambda: _encode(_photo(1, 1), "PNG"),
    "png 3 x 900": lambda: _encode(_photo(900, 3), "PNG"),
    "png at the model's size": lambda: _encode(_photo(224, 224), "PNG"),
    "gif": lambda: _encode(_palette(), "GIF"),
    "bmp": lambda: _encode(_photo(), "BMP"),
    "bmp 32-bit": lambda: _encode(_photo().convert("RGBA"), "BMP"),
}


@pytest.fixture(scope="module")
def graph_load():
    from zoo.data import image_graph

    functions = {}

    def load(data, size=224):
        if size not in functions:
            functions[size] = tf.function(lambda d: image_graph.load(d, size), autograph=False,
                                          input_signature=[tf.TensorSpec([], tf.string)])
        return functions[size](tf.constant(data)).numpy()

    return load


@pytest.mark.parametrize("kind", KINDS)
def test_the_graph_reads_the_pixels_load_image_reads(graph_load, kind):
    data = KINDS[kind]()
    expected = load_image(data, 224)
    assert expected.std() > 10 or kind == "png 1 x 1"  # a picture, not a flat color any reader gets right
    np.testing.assert_array_equal(graph_load(data), expected)


def test_the_graph_reads_the_pixels_at_other_sizes(graph_load):
    for kind in ("jpeg exif orientation 6", "png rgba", "jpeg portrait"):
        np.testing.assert_array_equal(graph_load(KINDS[kind](), 63), load_image(KINDS[kind](), 63))


def test_the_graph_reads_flickr8k_as_load_image_does(graph_load, mirror):
    from zoo.data.flickr8k import load_flickr8k

    for path, _ in load_flickr8k("test", limit=12):
        np.testing.assert_array_equal(graph_load(open(path, "rb").read()), load_image(path, 224), err_msg=path)


def _png_header(width, height):
    """A PNG's signature and header chunk, with a few bytes of data: what the
    size check reads before anything is decoded."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    chunk = lambda kind, body: (len(body).to_bytes(4, "big") + kind + body  # noqa: E731
                                + zlib.crc32(kind + body).to_bytes(4, "big"))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _xmp_orientation():
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    return _encode(_photo(), "JPEG", xmp=xmp)


def _png_exif():
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(_photo(), "PNG", exif=exif.tobytes())


REFUSED = {
    "a decompression bomb": (lambda: _png_header(20000, 20000), "the image has more than 178,956,970 pixels"),
    "webp": (lambda: _encode(_photo(), "WEBP"), "not a JPEG, PNG, GIF or BMP file"),
    "an orientation only in xmp": (_xmp_orientation, "its orientation is given in XMP metadata"),
    "a png with exif": (_png_exif, "a PNG with EXIF metadata"),
    "a gif with a transparent color": (lambda: _encode(_palette(), "GIF", transparency=3),
                                       "a GIF with a transparent color"),
    "a palette bmp": (lambda: _encode(_palette(), "BMP"), "a BMP that is not 24- or 32-bit"),
    "text": (lambda: b"not an image", "not a JPEG, PNG, GIF or BMP file"),
    "nothing": (lambda: b"", "not a JPEG, PNG, GIF or BMP file"),
}


@pytest.mark.parametrize("kind", REFUSED)
def test_the_graph_refuses_what_it_cannot_read_as_pillow_does(graph_load, kind):
    make, message = REFUSED[kind]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"images: {message}"):
        graph_load(make())


def test_the_api_refuses_the_bomb_too():
    with pytest.raises(ValueError, match="decompression bomb"):
        load_image(_png_header(20000, 20000))


def test_the_exported_captioner_captions_what_caption_captions(tiny_captioner, tmp_path):
    """Same bytes in, same caption out: turned, transparent, gray and odd-sized
    files included; a file the export cannot read is an error naming why."""
    import keras

    from zoo.tasks.captioning import export

    keras.utils.set_random_seed(3)
    model = tiny_captioner("sat-lstm-squeezenet")
    images = [KINDS[kind]() for kind in ("jpeg exif orientation 6", "jpeg exif orientation 8", "png rgba", "png gray",
                                         "jpeg cmyk", "png 3 x 900", "gif", "bmp")]
    export(model, tmp_path / "captioner")
    serve = tf.saved_model.load(str(tmp_path / "captioner")).signatures["serving_default"]
    served = [s.decode("utf-8") for s in serve(images=tf.constant(images))["captions"].numpy()]
    assert served == model.caption(images)
    assert len(set(served)) > 1  # the images differ, and so do their captions
    with pytest.raises(tf.errors.InvalidArgumentError, match="images: the image has more than"):
        serve(images=tf.constant([images[0], _png_header(20000, 20000)]))
