import os
import shutil

import h5py
import keras
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from zoo.data.download import DATA_ENV, cache_dir, fetch
from zoo.models.encoders import ENCODERS, SQUEEZENET_WEIGHTS, build_encoder

# The file's own paths (layer group / weight name; names holding "/" nest), read off the file with h5py.
FIRES = {2: (2, 3, 4), 3: (5, 6, 7), 4: (8, 9, 10), 5: (11, 12, 13),
         6: (14, 15, 16), 7: (17, 18, 19), 8: (20, 21, 22), 9: (23, 24, 25)}  # fire id -> "uniformN" kernels


@pytest.fixture
def weights_path(request):
    """The SqueezeNet weights from the data mirror or the download cache; skips when neither holds them."""
    if not os.environ.get(DATA_ENV) and (cache_dir() / SQUEEZENET_WEIGHTS).is_file():
        return fetch(SQUEEZENET_WEIGHTS)
    request.getfixturevalue("mirror")
    try:
        return fetch(SQUEEZENET_WEIGHTS)
    except FileNotFoundError as e:
        pytest.skip(str(e))


def file_arrays(path):
    """{dataset path: array} of every array in an HDF5 file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def test_every_array_of_the_file_is_loaded_into_every_variable(weights_path):
    arrays = file_arrays(weights_path)
    encoder = build_encoder(weights=weights_path, image_size=63)
    fresh = build_encoder(weights=None, image_size=63)
    assert len(arrays) == 50 and len(encoder.weights) == 50  # conv1 and 8 x 3 in the fire modules
    used = set()
    for layer in encoder.layers:
        for variable, initial in zip(layer.weights, fresh.get_layer(layer.name).weights):
            # Keras "fire2_expand1x1" is the file's "fire2/expand1x1"; kernels are 4-D, biases 1-D.
            group = layer.name.replace("_", "/") + "/"
            [path] = [p for p in arrays if p.startswith(group) and arrays[p].ndim == len(variable.shape)]
            np.testing.assert_array_equal(variable.numpy(), arrays[path])
            assert not np.array_equal(variable.numpy(), initial.numpy())
            used.add(path)
    assert used == set(arrays)


def conv(x, kernel, bias, stride=1, same=False):
    """[batch, h, w, c_in] (*) [k, k, c_in, c_out] + bias, then relu (cross-correlation, as Caffe and Keras)."""
    k = kernel.shape[0]
    if same:
        x = np.pad(x, [(0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)])
    windows = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # [batch, h', w', c_in, k, k]
    return np.maximum(np.einsum("bhwcij,ijco->bhwo", windows, kernel) + bias, 0.0)


def max_pool(x):
    return sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(-2, -1))


def numpy_squeezenet(images, path):
    """SqueezeNet v1.1 in float64 NumPy from the file's arrays: {"conv1", "pool1", "fire<i>_concat": output}."""
    w = {name: array.astype("float64") for name, array in file_arrays(path).items()}
    bgr = images[..., ::-1] - np.array([103.939, 116.779, 123.68])
    x = conv(bgr, w["conv1/uniform1"], w["conv1/conv1_b"], stride=2)
    outputs = {"conv1": x}
    x = outputs["pool1"] = max_pool(x)
    for i, (s, e1, e3) in FIRES.items():
        x = conv(x, w[f"fire{i}/squeeze1x1/uniform{s}"], w[f"fire{i}/squeeze1x1/fire{i}/squeeze1x1_b"])
        left = conv(x, w[f"fire{i}/expand1x1/uniform{e1}"], w[f"fire{i}/expand1x1/fire{i}/expand1x1_b"])
        right = conv(x, w[f"fire{i}/expand3x3/uniform{e3}"], w[f"fire{i}/expand3x3/fire{i}/expand3x3_b"], same=True)
        x = outputs[f"fire{i}_concat"] = np.concatenate([left, right], axis=-1)
        if i in (3, 5):
            x = max_pool(x)
    return outputs


def test_squeezenet_matches_an_independent_numpy_computation(weights_path):
    images = np.random.default_rng(0).uniform(0, 255, (2, 63, 63, 3))
    # The Caffe preprocessing written out above is keras.applications' mode="caffe" (rcmalli's choice).
    caffe = keras.applications.imagenet_utils.preprocess_input(images.copy(), mode="caffe")
    np.testing.assert_allclose(caffe, images[..., ::-1] - np.array([103.939, 116.779, 123.68]))
    encoder = build_encoder(weights=weights_path, image_size=63)
    names = ["conv1", "pool1", "fire2_concat", "fire9_concat"]
    probe = keras.Model(encoder.input, [encoder.get_layer(n).output for n in names])
    actual = dict(zip(names, probe(images.astype("float32"))))
    expected = numpy_squeezenet(images, weights_path)
    for name in names:
        scale = np.abs(expected[name]).max()
        assert scale > 0 and actual[name].shape == expected[name].shape
        np.testing.assert_allclose(np.asarray(actual[name]), expected[name], rtol=0, atol=1e-4 * scale, err_msg=name)


@pytest.mark.parametrize("image_size, grid", [(224, 13), (227, 13), (96, 5), (31, 1)])
def test_feature_grid(image_size, grid):
    encoder = build_encoder(weights=None, image_size=image_size)
    assert (encoder.name, encoder.image_size, encoder.feature_shape) == ("squeezenet1.1", image_size, (grid, grid, 512))
    features = encoder(np.zeros((2, image_size, image_size, 3), "float32"))
    assert tuple(features.shape) == (2, grid, grid, 512)


def test_keras_application_builds_offline_without_weights():
    encoder = build_encoder("keras:MobileNetV2", weights=None, image_size=96)
    assert (encoder.name, encoder.feature_shape) == ("keras:MobileNetV2", (3, 3, 1280))
    assert tuple(encoder(np.zeros((1, 96, 96, 3), "float32")).shape) == (1, 3, 3, 1280)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"'squeezenet'.*Did you mean 'squeezenet1.1'") as error:
        build_encoder("squeezenet")
    assert all(name in str(error.value) for name in ENCODERS) and "keras:MobileNetV2" in str(error.value)
    with pytest.raises(ValueError, match=r"`weights`.*'imagenet', None.*got 'imagenet21k'"):
        build_encoder(weights="imagenet21k")
    with pytest.raises(ValueError, match=r"`image_size`.*got 0"):
        build_encoder(weights=None, image_size=0)
    with pytest.raises(ValueError, match=r"`image_size` must be at least 31.*got 30"):
        build_encoder(weights=None, image_size=30)


def drop_layer(f):
    del f["fire9/expand3x3"]


def reshape_kernel(f):
    del f["conv1/uniform1"]
    f["conv1/uniform1"] = np.zeros((3, 3, 3, 32), "float32")


def add_array(f):
    f["fire9/extra"] = np.zeros(3, "float32")


@pytest.mark.parametrize("edit, message", [
    (drop_layer, r"missing layers \['fire9/expand3x3'\], unused arrays \[\], mismatched shapes \[\]"),
    (reshape_kernel, r"mismatched shapes \['conv1: file \[\(3, 3, 3, 32\), \(64,\)\], model \[\(3, 3, 3, 64\), "),
    (add_array, r"missing layers \[\], unused arrays \['fire9/extra'\]"),
])
def test_a_weights_file_that_does_not_match_is_refused(weights_path, tmp_path, edit, message):
    path = tmp_path / "edited.h5"
    shutil.copy(weights_path, path)
    path.chmod(0o644)  # the mirror is read-only
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(ValueError, match=r"`weights` file .*edited.h5 does not match squeezenet1.1: .*" + message):
        build_encoder(weights=path, image_size=63)
