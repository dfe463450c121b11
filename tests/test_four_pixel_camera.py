"""The 4-pixel camera data set: ffbook.data.four_pixel_camera, checked against the lecture's patterns."""

from __future__ import annotations

import numpy as np
import pytest

from ffbook.data import CAMERA_CLASSES, CAMERA_PATTERNS, four_pixel_camera

# The +1 variants as the lecture writes them, typed here independently of the module.
LECTURE_PATTERNS = {
    "solid": [[1.0, 1.0], [1.0, 1.0]],
    "vertical": [[1.0, -1.0], [1.0, -1.0]],
    "diagonal": [[1.0, -1.0], [-1.0, 1.0]],
    "horizontal": [[1.0, 1.0], [-1.0, -1.0]],
}


def test_classes_follow_the_lecture_order_s_v_d_h():
    assert CAMERA_CLASSES == ("solid", "vertical", "diagonal", "horizontal")
    for label, name in enumerate(CAMERA_CLASSES):
        np.testing.assert_array_equal(CAMERA_PATTERNS[label], LECTURE_PATTERNS[name])


def test_shapes_and_dtypes():
    x, y = four_pixel_camera(37, seed=3)
    assert x.shape == (37, 2, 2) and x.dtype == np.float32
    assert y.shape == (37,) and y.dtype == np.int64


def test_every_image_is_one_of_the_two_variants_of_its_class():
    x, y = four_pixel_camera(500, seed=0)
    for image, label in zip(x, y, strict=True):
        pattern = np.array(LECTURE_PATTERNS[CAMERA_CLASSES[label]])
        assert np.array_equal(image, pattern) or np.array_equal(image, -pattern), (image, label)
    # No noise: every pixel is exactly +1 or -1.
    assert set(np.unique(x).tolist()) == {-1.0, 1.0}


def test_labels_and_variants_are_uniform():
    n = 8000
    x, y = four_pixel_camera(n, seed=11)
    assert y.min() == 0 and y.max() == 3
    # Each class has probability 1/4: its count is Binomial(n, 1/4), std ~ 39; allow 5 std.
    counts = np.bincount(y, minlength=4)
    assert np.all(np.abs(counts - n / 4) < 5 * np.sqrt(n * 0.25 * 0.75)), counts
    # Within a class, the +1 variant (top-left pixel +1) has probability 1/2.
    for label in range(4):
        plus = np.sum(x[y == label, 0, 0] == 1.0)
        total = counts[label]
        assert abs(plus - total / 2) < 5 * np.sqrt(total / 4), (label, plus, total)


def test_all_eight_images_appear():
    x, _ = four_pixel_camera(200, seed=5)
    distinct = {tuple(image.ravel().tolist()) for image in x}
    assert len(distinct) == 8


def test_same_seed_same_data_other_seed_other_data():
    x1, y1 = four_pixel_camera(100, seed=42)
    x2, y2 = four_pixel_camera(100, seed=42)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, y3 = four_pixel_camera(100, seed=43)
    assert not (np.array_equal(x1, x3) and np.array_equal(y1, y3))


def test_numpy_integers_are_accepted():
    x, y = four_pixel_camera(np.int64(4), seed=np.int32(1))
    x_ref, y_ref = four_pixel_camera(4, seed=1)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)


@pytest.mark.parametrize("n", [0, -5])
def test_non_positive_n_is_rejected(n):
    with pytest.raises(ValueError, match="n must be >= 1"):
        four_pixel_camera(n, seed=0)


@pytest.mark.parametrize("n", [2.0, "10", None, True])
def test_n_of_the_wrong_type_is_rejected(n):
    with pytest.raises(TypeError, match="n must be an int"):
        four_pixel_camera(n, seed=0)


@pytest.mark.parametrize(("seed", "bound"), [(-1, ">= 0"), (2**63, "<= 9223372036854775807")])
def test_seed_outside_the_seed_range_is_rejected(seed, bound):
    # ffbook's one seed rule: an int in [0, 2**63 - 1]
    with pytest.raises(ValueError, match=f"seed must be {bound}"):
        four_pixel_camera(10, seed=seed)


@pytest.mark.parametrize("seed", [1.5, "0", None, False])
def test_seed_of_the_wrong_type_is_rejected(seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        four_pixel_camera(10, seed=seed)
