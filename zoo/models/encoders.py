"""Image encoders for captioning: float RGB images in [0, 255] -> a grid of feature vectors.

"Show, attend and tell" (Xu et al. 2015) attends over the h x w locations of a
convolutional feature map. `build_encoder` returns that map as a Keras model:

    images [batch, H, W, 3], float RGB in [0, 255]  ->  features [batch, h, w, channels]

with its preprocessing inside, and metadata `name`, `image_size`, `feature_shape`.

- "squeezenet1.1": SqueezeNet v1.1 (Iandola et al. 2016) without its classifier:
  224 x 224 -> 13 x 13 x 512, 0.72M parameters. ImageNet weights from
  rcmalli/keras-squeezenet (a Keras 2 HDF5 file read here with h5py), with the
  Caffe preprocessing they were trained with.
- "keras:<Name>": a `keras.applications` backbone (`include_top=False`) with its
  own `preprocess_input`; Keras downloads its ImageNet weights.
"""

import difflib
import functools
import os

import h5py
import keras
import numpy as np
from keras import layers, ops

from zoo.checks import positive_int
from zoo.data.download import fetch

SQUEEZENET_WEIGHTS = "weights/squeezenet_weights_tf_dim_ordering_tf_kernels_notop.h5"
# ImageNet mean pixel in BGR order: keras.applications.imagenet_utils.preprocess_input(mode="caffe"),
# which rcmalli/keras-squeezenet uses (the weights come from the Caffe model, which reads BGR).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# fire module id -> (squeeze filters, expand filters per branch); a 3x3/2 max pool follows fire3 and fire5.
FIRE_MODULES = {2: (16, 64), 3: (16, 64), 4: (32, 128), 5: (32, 128),
                6: (48, 192), 7: (48, 192), 8: (64, 256), 9: (64, 256)}
POOL_AFTER = (3, 5)
# keras.applications class -> the module holding its preprocess_input.
KERAS_BACKBONES = {"MobileNetV2": "mobilenet_v2", "ResNet50": "resnet50", "InceptionV3": "inception_v3",
                   "EfficientNetB0": "efficientnet", "DenseNet121": "densenet", "VGG16": "vgg16"}


def caffe_preprocess(images):
    """RGB [0, 255] -> BGR minus the ImageNet mean pixel: `[..., 3]` -> `[..., 3]`."""
    return ops.flip(images, axis=-1) - np.array(CAFFE_MEAN_BGR, dtype="float32")


def squeezenet_grid(image_size):
    """Side of the SqueezeNet v1.1 feature grid for a square input (224 -> 13): four valid 3x3/2 windows."""
    size = image_size
    for _ in range(4):  # conv1, pool1, pool3, pool5
        size = (size - 3) // 2 + 1
    return size


def _fire(x, name, squeeze, expand):
    # [batch, h, w, c] -> [batch, h, w, 2 * expand]
    x = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze1x1")(x)
    left = layers.Conv2D(expand, 1, activation="relu", name=f"{name}_expand1x1")(x)
    right = layers.Conv2D(expand, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(x)
    return layers.Concatenate(name=f"{name}_concat")([left, right])


def squeezenet(weights="imagenet", image_size=224):
    """SqueezeNet v1.1 without its classifier, as in rcmalli/keras-squeezenet.

    Layers are named as in that project with "_" for its "/" (Keras 3 forbids
    "/"): `conv1`, `pool1`, `fire2_squeeze1x1`, `fire2_expand1x1`,
    `fire2_expand3x3`, `fire2_concat`, ..., `pool3`, `pool5`, ..., `fire9_concat`.

    Args:
        weights: "imagenet", None (random) or the path of a weights file in
            the format of `load_squeezenet_weights`.
        image_size: side of the square input, at least 31.

    Returns:
        A `keras.Model` named "squeezenet1.1": float RGB `[batch, s, s, 3]` in
        [0, 255] -> `[batch, g, g, 512]` with g = `squeezenet_grid(s)`.
    """
    if squeezenet_grid(image_size) < 1:
        raise ValueError(f"`image_size` must be at least 31 for squeezenet1.1, got {image_size!r}.")
    images = keras.Input((image_size, image_size, 3), name="images")
    x = caffe_preprocess(images)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(x)  # [batch, 111, 111, 64] at 224
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)  # [batch, 55, 55, 64]
    for i, (squeeze, expand) in FIRE_MODULES.items():
        x = _fire(x, f"fire{i}", squeeze, expand)
        if i in POOL_AFTER:
            x = layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)  # 27 x 27, then 13 x 13
    model = keras.Model(images, x, name="squeezenet1.1")  # [batch, 13, 13, 512] at 224
    if weights is not None:
        load_squeezenet_weights(model, fetch(SQUEEZENET_WEIGHTS) if weights == "imagenet" else weights)
    return model


def _read_keras2_weights(path):
    """{layer name: {weight name: array}} of a Keras 2 HDF5 weights file, and its datasets left unread."""
    with h5py.File(path, "r") as f:
        if "layer_names" not in f.attrs:
            raise ValueError(f"`weights` file {path} is not a Keras 2 weights file (no `layer_names` attribute).")
        stored, read = {}, set()
        for layer in (n.decode() for n in f.attrs["layer_names"]):
            group = f.get(layer)
            # Names may hold "/" ("fire2/expand1x1_b"), so h5py stores them as nested groups.
            names = [n.decode() for n in group.attrs.get("weight_names", [])] if group is not None else []
            arrays = {n: group[n][()] for n in names if isinstance(group.get(n), h5py.Dataset)}
            if arrays:
                stored[layer] = arrays
                read.update(f"{layer}/{n}" for n in arrays)
        datasets = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
    return stored, sorted(set(datasets) - read)


def load_squeezenet_weights(model, path):
    """Assigns every kernel and bias of a Keras 2 HDF5 file (rcmalli/keras-squeezenet) to `model` by name.

    File layer "fire2/squeeze1x1" goes to Keras layer "fire2_squeeze1x1"; each
    layer's arrays are taken in the order of its `weight_names` attribute
    (kernel, then bias). The file and the model must match exactly.

    Raises:
        ValueError: naming every model layer missing from the file, every array
            of the file left unused and every mismatched shape; nothing is
            assigned then.
    """
    stored, unread = _read_keras2_weights(path)
    targets = {layer.name.replace("_", "/"): layer for layer in model.layers if layer.weights}
    missing = sorted(set(targets) - set(stored))
    unused = sorted(set(stored) - set(targets)) + unread
    mismatched = []
    for name in sorted(set(targets) & set(stored)):
        expected = [tuple(v.shape) for v in targets[name].weights]
        found = [a.shape for a in stored[name].values()]
        if found != expected:
            mismatched.append(f"{name}: file {found}, model {expected}")
    if missing or unused or mismatched:
        raise ValueError(
            f"`weights` file {path} does not match {model.name}: missing layers {missing}, "
            f"unused arrays {unused}, mismatched shapes {mismatched}."
        )
    for name, layer in targets.items():
        for variable, array in zip(layer.weights, stored[name].values()):
            variable.assign(array)


def keras_application(backbone, weights="imagenet", image_size=224):
    """A `keras.applications` backbone without its classifier, behind its own `preprocess_input`."""
    module = getattr(keras.applications, KERAS_BACKBONES[backbone])
    images = keras.Input((image_size, image_size, 3), name="images")
    cnn = getattr(keras.applications, backbone)(include_top=False, weights=weights, input_shape=images.shape[1:])
    return keras.Model(images, cnn(module.preprocess_input(images)), name=f"keras:{backbone}")


ENCODERS = {"squeezenet1.1": squeezenet,
            **{f"keras:{b}": functools.partial(keras_application, b) for b in KERAS_BACKBONES}}


def build_encoder(name="squeezenet1.1", weights="imagenet", image_size=224):
    """An image encoder: float RGB images in [0, 255] -> a grid of feature vectors.

    Args:
        name: a key of `ENCODERS`: "squeezenet1.1" or "keras:<Name>" for a
            `keras.applications` backbone (e.g. "keras:MobileNetV2").
        weights: "imagenet", None (random initialization) or a weights file path.
        image_size: side of the square input images.

    Returns:
        A `keras.Model` mapping `[batch, image_size, image_size, 3]` to
        `[batch, h, w, channels]`, with attributes `name`, `image_size` and
        `feature_shape` (h, w, channels); (13, 13, 512) for squeezenet1.1 at 224.

    Example:

    >>> encoder = build_encoder("squeezenet1.1", weights=None, image_size=96)
    >>> encoder.name, encoder.image_size, encoder.feature_shape
    ('squeezenet1.1', 96, (5, 5, 512))
    """
    if not isinstance(name, str) or name not in ENCODERS:
        close = difflib.get_close_matches(str(name), list(ENCODERS), n=3, cutoff=0.3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown encoder `name` {name!r}.{hint} Allowed: {', '.join(ENCODERS)}.")
    if not (weights in ("imagenet", None) or isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights)):
        raise ValueError(f"`weights` must be 'imagenet', None or the path of a weights file, got {weights!r}.")
    positive_int("image_size", image_size)
    encoder = ENCODERS[name](weights=weights, image_size=image_size)
    encoder.image_size = image_size
    encoder.feature_shape = tuple(encoder.output.shape[1:])
    return encoder
