"""`load_image` in TensorFlow ops, for the captioner's SavedModel: the same
bytes give the same pixels, bit for bit, or an error that says why not.

`zoo.data.flickr8k.load_image` reads files with Pillow; an exported model
must read them without Python. `load` does what Pillow does, in graph ops:
it checks the size in the file's header before decoding anything (Pillow's
decompression-bomb limit), decodes JPEG with libjpeg's accurate integer
transform (Pillow's default), applies the EXIF orientation, lays transparent
pixels on white with Pillow's integer arithmetic, and resizes with Pillow's
bilinear filter in its 22-bit fixed point, one axis after the other in
Pillow 13's order, rounding to 8 bits between the two passes as Pillow does. `tests/test_image_graph.py` compares
the two on files of every kind the export reads.

What it cannot match, it refuses (an `InvalidArgumentError` naming the
reason): formats other than JPEG, PNG, GIF and BMP; an orientation that only
XMP metadata gives, or a PNG's EXIF; a transparent color in a 16-bit PNG; a
GIF with a transparent color; BMPs other than 24- or 32-bit uncompressed RGB;
and whatever TensorFlow's decoders refuse.
"""

import tensorflow as tf
from PIL import Image

MOST_PIXELS = 2 * Image.MAX_IMAGE_PIXELS  # more, and Pillow raises DecompressionBombError
_BITS = 22  # Pillow's fixed-point precision for 8-bit resampling (32 - 8 - 2)
JPEG, PNG, GIF, BMP = range(4)


def load(data, size):
    """Encoded image bytes (a scalar string) -> float32 `[size, size, 3]` in
    [0, 255], equal to `zoo.data.flickr8k.load_image(data, size)`."""
    raw = tf.io.decode_raw(data, tf.uint8)
    raw = tf.cond(tf.size(raw) > 0, lambda: raw, lambda: tf.zeros([1], tf.uint8))  # b"" is refused as no format
    kind = _kind(raw)
    height, width = tf.switch_case(kind, [lambda: _jpeg_size(data), lambda: _size(raw, 20, 16, 4, True),
                                          lambda: _size(raw, 8, 6, 2, False), lambda: _bmp_size(raw)])
    pixels = height * width
    with tf.control_dependencies([_check(pixels <= MOST_PIXELS, f"the image has more than {MOST_PIXELS:,} pixels "
                                                                f"(Pillow's decompression-bomb limit)"),
                                  _check(tf.math.minimum(height, width) > 0, "the header gives no pixels")]):
        orientation = _orientation(raw, kind)
        image = tf.switch_case(kind, [
            lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
            lambda: _png(data, raw),
            lambda: _gif(data, raw),
            lambda: _bmp(data, raw),
        ])
    image = _orient(image, orientation)
    # Pillow 13 resizes the height first when it shrinks more than twice as much as the width
    rows, columns = tf.shape(image)[0] - size, tf.shape(image)[1] - size
    image = tf.cond(tf.logical_and(rows > 0, rows > 2 * columns),
                    lambda: _resize(_resize(image, size, axis=0), size, axis=1),
                    lambda: _resize(_resize(image, size, axis=1), size, axis=0))
    return tf.cast(image, tf.float32)


# -- reading bytes -------------------------------------------------------------------


def _check(condition, message):
    return tf.debugging.Assert(condition, [f"images: {message}"])


def _byte(raw, index):
    """raw[index] as int64, -1 past the end."""
    index = tf.cast(index, tf.int64)
    inside = tf.logical_and(index >= 0, index < tf.size(raw, out_type=tf.int64))
    return tf.where(inside, tf.cast(tf.gather(raw, tf.clip_by_value(index, 0, tf.size(raw, out_type=tf.int64) - 1)),
                                    tf.int64), tf.constant(-1, tf.int64))


def _uint(raw, start, length, big_endian):
    """The unsigned integer in raw[start:start + length] (bytes past the end read as 0)."""
    values = tf.maximum(_byte(raw, tf.cast(start, tf.int64) + tf.range(length, dtype=tf.int64)), 0)
    shifts = tf.range(length, dtype=tf.int64) * 8
    return tf.reduce_sum(tf.bitwise.left_shift(values, tf.reverse(shifts, [0]) if big_endian else shifts), -1)


def _starts(raw, prefix, at=0):
    return tf.reduce_all(tf.equal(_byte(raw, at + tf.range(len(prefix), dtype=tf.int64)),
                                  tf.constant(list(prefix), tf.int64)))


def _contains(raw, pattern):
    """Whether the bytes `pattern` occur anywhere in raw."""
    n = tf.size(raw) - len(pattern) + 1
    found = tf.ones([tf.maximum(n, 0)], tf.bool)
    for k, value in enumerate(pattern):
        found = tf.logical_and(found, tf.equal(raw[k:k + tf.maximum(n, 0)], value))
    return tf.reduce_any(found)


def _kind(raw):
    kinds = tf.stack([_starts(raw, b"\xff\xd8\xff"), _starts(raw, b"\x89PNG\r\n\x1a\n"),
                      tf.logical_or(_starts(raw, b"GIF87a"), _starts(raw, b"GIF89a")), _starts(raw, b"BM")])
    with tf.control_dependencies([_check(tf.reduce_any(kinds), "not a JPEG, PNG, GIF or BMP file (the formats "
                                                                "the export reads)")]):
        return tf.cast(tf.argmax(tf.cast(kinds, tf.int32)), tf.int32)


def _size(raw, height_at, width_at, length, big_endian):
    return _uint(raw, height_at, length, big_endian), _uint(raw, width_at, length, big_endian)


def _jpeg_size(data):
    shape = tf.io.extract_jpeg_shape(data, output_type=tf.int32)
    return tf.cast(shape[0], tf.int64), tf.cast(shape[1], tf.int64)


def _bmp_size(raw):
    height = _uint(raw, 22, 4, False)
    return tf.where(height >= 2**31, 2**32 - height, height), _uint(raw, 18, 4, False)  # < 0: stored top-down


# -- orientation ---------------------------------------------------------------------


def _orientation(raw, kind):
    """The EXIF orientation Pillow's `exif_transpose` applies (1: none)."""
    value, tagged = tf.cond(tf.equal(kind, JPEG), lambda: _jpeg_orientation(raw),
                            lambda: (tf.constant(1, tf.int64), tf.constant(False)))
    checks = [
        _check(tf.logical_or(tagged, tf.logical_not(_contains(raw, b"tiff:Orientation"))),
               "its orientation is given in XMP metadata, which the export does not read; rotate the image first"),
        _check(tf.cond(tf.equal(kind, PNG), lambda: tf.logical_not(tf.logical_or(
            _contains(raw, b"eXIf"), _contains(raw, b"Raw profile type exif"))), lambda: tf.constant(True)),
               "a PNG with EXIF metadata, which the export does not read; rotate the image first or save it "
               "without EXIF"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(value)


def _jpeg_orientation(raw):
    """(orientation, whether the tag is there) from the first Exif APP1 segment."""

    def more(position, exif):
        marker = _byte(raw, position + 1)
        return tf.logical_and(tf.logical_and(exif < 0, _byte(raw, position) == 0xFF),
                              tf.logical_not(tf.logical_or(marker == 0xDA, marker == 0xD9)))

    def step(position, exif):
        marker = _byte(raw, position + 1)
        standalone = tf.logical_or(tf.logical_or(marker == 0xFF, marker == 0x01),
                                   tf.logical_and(marker >= 0xD0, marker <= 0xD8))
        length = _uint(raw, position + 2, 2, True)
        found = tf.logical_and(marker == 0xE1, _starts(raw, b"Exif\0\0", position + 4))
        exif = tf.where(found, position + 10, exif)
        size = tf.where(marker == 0xFF, tf.constant(1, tf.int64), tf.where(standalone, tf.constant(2, tf.int64),
                                                                           2 + length))
        return tf.where(found, position, position + size), exif

    _, tiff = tf.while_loop(more, step, (tf.constant(2, tf.int64), tf.constant(-1, tf.int64)))
    return tf.cond(tiff >= 0, lambda: _tiff_orientation(raw, tiff), lambda: (tf.constant(1, tf.int64),
                                                                               tf.constant(False)))


def _tiff_orientation(raw, tiff):
    little, big = _starts(raw, b"II", tiff), _starts(raw, b"MM", tiff)
    with tf.control_dependencies([_check(tf.logical_or(little, big), "its EXIF data is not TIFF (neither II nor MM)")]):
        read = lambda at, n: tf.where(big, _uint(raw, at, n, True), _uint(raw, at, n, False))  # noqa: E731
    directory = tiff + read(tiff + 4, 4)
    count = tf.minimum(read(directory, 2), tf.size(raw, out_type=tf.int64) // 12 + 1)
    entries = directory + 2 + 12 * tf.range(count)
    tags = read(entries[:, None], 2)
    matches = tf.where(tf.equal(tags, 0x0112))[:, 0]
    tagged = tf.size(matches) > 0

    def value():
        entry = entries[matches[-1]]  # a repeated tag: the last one wins, as in Pillow
        kind, number = read(entry + 2, 2), read(entry + 4, 4)
        width = tf.gather([0, 1, 1, 2, 4, 0, 1, 1, 2, 4], tf.clip_by_value(kind, 0, 9))  # BYTE..SLONG in place
        one = tf.logical_and(number == 1, width > 0)
        inline = tf.switch_case(tf.cast(tf.clip_by_value(width, 1, 4) // 2, tf.int32),
                                [lambda: read(entry + 8, 1), lambda: read(entry + 8, 2), lambda: read(entry + 8, 4)])
        return tf.where(one, inline, 1)  # several values or another type: no transpose, as in Pillow

    return tf.cond(tagged, value, lambda: tf.constant(1, tf.int64)), tagged


def _orient(image, orientation):
    """Pillow's transpose for EXIF orientations 2-8 (`ImageOps.exif_transpose`)."""
    flip = lambda: image[:, ::-1]  # noqa: E731
    return tf.switch_case(tf.cast(tf.clip_by_value(orientation, 1, 9) - 1, tf.int32), [
        lambda: image,
        flip,                                              # 2 FLIP_LEFT_RIGHT
        lambda: tf.image.rot90(image, 2),                  # 3 ROTATE_180
        lambda: image[::-1],                               # 4 FLIP_TOP_BOTTOM
        lambda: tf.transpose(image, [1, 0, 2]),            # 5 TRANSPOSE
        lambda: tf.image.rot90(image, 3),                  # 6 ROTATE_270
        lambda: tf.transpose(image[::-1, ::-1], [1, 0, 2]),  # 7 TRANSVERSE
        lambda: tf.image.rot90(image, 1),                  # 8 ROTATE_90
        lambda: image,                                     # other values: none, as in Pillow
    ])


# -- decoding ------------------------------------------------------------------------


def _png(data, raw):
    depth, color = _byte(raw, 24), _byte(raw, 25)
    transparent = tf.logical_or(tf.logical_or(color == 4, color == 6), _png_has_chunk(raw, b"tRNS"))

    def gray16():  # Pillow reads these as "I;16" (a transparent color ignored) and scales by 1/257
        pixels = tf.math.rint(tf.cast(tf.io.decode_png(data, 1, tf.uint16), tf.float64) / 257.0)
        return tf.tile(tf.cast(pixels, tf.uint8), [1, 1, 3])

    def wide():  # other 16-bit PNGs: Pillow keeps the high byte
        with tf.control_dependencies([_check(tf.logical_not(_png_has_chunk(raw, b"tRNS")),
                                             "a 16-bit PNG with a transparent color, which the export does not "
                                             "read as Pillow does")]):
            pixels = tf.cast(tf.bitwise.right_shift(tf.io.decode_png(data, 4, tf.uint16), 8), tf.uint8)
        return tf.cond(transparent, lambda: _on_white(pixels), lambda: pixels[..., :3])

    def narrow():
        def with_alpha():
            pixels = tf.io.decode_png(data, 4)
            # TensorFlow fills the alpha of a gray PNG under 8 bits with 2**depth - 1, not 255
            alpha = tf.where(tf.logical_and(color == 0, depth < 8),
                             tf.where(pixels[..., 3:] == 0, tf.constant(0, tf.uint8), 255), pixels[..., 3:])
            return _on_white(tf.concat([pixels[..., :3], alpha], -1))

        return tf.cond(transparent, with_alpha, lambda: tf.io.decode_png(data, 3))

    return tf.case([(tf.logical_and(depth == 16, color == 0), gray16), (depth == 16, wide)], default=narrow)


def _png_has_chunk(raw, name):
    """Whether a chunk of type `name` comes before the image data."""

    def more(position, found):
        return tf.logical_and(tf.logical_not(found), tf.logical_and(
            position + 8 <= tf.size(raw, out_type=tf.int64),
            tf.logical_not(tf.logical_or(_starts(raw, b"IDAT", position + 4), _starts(raw, b"IEND", position + 4)))))

    def step(position, found):
        return position + 12 + _uint(raw, position, 4, True), _starts(raw, name, position + 4)

    return tf.while_loop(more, step, (tf.constant(8, tf.int64), tf.constant(False)))[1]


def _gif(data, raw):
    # A Graphic Control Extension (21 F9 04) whose flags set "transparent color"
    n = tf.maximum(tf.size(raw) - 3, 0)
    transparent = tf.reduce_any(tf.logical_and(
        tf.logical_and(tf.equal(raw[:n], 0x21), tf.equal(raw[1:n + 1], 0xF9)),
        tf.logical_and(tf.equal(raw[2:n + 2], 0x04), tf.equal(tf.bitwise.bitwise_and(raw[3:n + 3], 1), 1))))
    with tf.control_dependencies([_check(tf.logical_not(transparent), "a GIF with a transparent color, which the "
                                                                      "export does not read as Pillow does")]):
        return tf.io.decode_gif(data)[0]  # the first frame, as Pillow reads it


def _bmp(data, raw):
    bits, compression = _uint(raw, 28, 2, False), _uint(raw, 30, 4, False)
    with tf.control_dependencies([_check(tf.logical_and(tf.logical_or(bits == 24, bits == 32), compression == 0),
                                         "a BMP that is not 24- or 32-bit uncompressed RGB, which the export does "
                                         "not read as Pillow does")]):
        return tf.io.decode_bmp(data, channels=3)


def _on_white(rgba):
    """RGBA laid on opaque white with Pillow's `alpha_composite` arithmetic."""
    color, alpha = tf.cast(rgba[..., :3], tf.int32), tf.cast(rgba[..., 3:], tf.int32)
    mixed = color * alpha * 128 + 255 * (255 - alpha) * 128 + (0x80 << 7)
    mixed = tf.bitwise.right_shift(tf.bitwise.right_shift(tf.bitwise.right_shift(mixed, 8) + mixed, 8), 7)
    return tf.cast(tf.where(alpha == 0, 255, mixed), tf.uint8)


# -- resizing ------------------------------------------------------------------------


def _resize(image, size, axis):
    """Pillow's bilinear resampling of one axis of uint8 `[H, W, 3]` to `size`
    (`ImagingResample`: coefficients in float64, normalized, then 22-bit fixed
    point; each output rounded and clipped to 8 bits)."""
    if axis == 0:
        return tf.transpose(_resize(tf.transpose(image, [1, 0, 2]), size, 1), [1, 0, 2])
    n = tf.shape(image, out_type=tf.int64)[1]
    scale = tf.cast(n, tf.float64) / size
    filterscale = tf.maximum(scale, 1.0)
    support = filterscale  # the bilinear (triangle) filter's support is 1
    taps = tf.cast(tf.math.ceil(support), tf.int64) * 2 + 1
    center = (tf.range(size, dtype=tf.float64) + 0.5) * scale
    first = tf.maximum(tf.cast(center - support + 0.5, tf.int64), 0)  # C's (int) truncates
    count = tf.minimum(tf.cast(center + support + 0.5, tf.int64), n) - first
    x = tf.range(taps)[None, :]
    t = (tf.cast(x + first[:, None], tf.float64) - center[:, None] + 0.5) * (1.0 / filterscale)
    weights = tf.where(x < count[:, None], tf.maximum(1.0 - tf.abs(t), 0.0), 0.0)
    total = tf.math.cumsum(weights, axis=1)[:, -1:]  # summed left to right, as Pillow does
    weights = tf.where(total != 0, weights / tf.where(total != 0, total, 1.0), weights)
    fixed = tf.floor(0.5 + weights * (1 << _BITS))

    def one(arguments):
        start, row = arguments
        part = tf.cast(image[:, start:start + taps], tf.float64)
        return tf.einsum("hkc,k->hc", part, row[:tf.shape(part)[1]])

    sums = tf.map_fn(one, (first, fixed), fn_output_signature=tf.TensorSpec([None, 3], tf.float64))
    out = tf.clip_by_value(tf.floor((sums + (1 << (_BITS - 1))) / (1 << _BITS)), 0, 255)
    return tf.transpose(tf.cast(out, tf.uint8), [1, 0, 2])
