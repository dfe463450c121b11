"""ffbook.metrics.confusion_matrix against counts worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ffbook.metrics import confusion_matrix


def test_small_example_counted_by_hand():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    expected = np.array(
        [
            [1, 1, 0],  # class 0: one right, one taken for 1
            [0, 1, 0],  # class 1: right
            [1, 0, 2],  # class 2: two right, one taken for 0
        ]
    )
    matrix = confusion_matrix(y_true, y_pred, num_classes=3)
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.int64


def test_rows_sum_to_class_counts_and_trace_gives_accuracy():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 1000)
    y_pred = np.where(rng.random(1000) < 0.8, y_true, rng.integers(0, 10, 1000))
    matrix = confusion_matrix(y_true, y_pred, 10)
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(y_true, minlength=10))
    np.testing.assert_array_equal(matrix.sum(axis=0), np.bincount(y_pred, minlength=10))
    assert np.trace(matrix) / matrix.sum() == pytest.approx(np.mean(y_true == y_pred))


def test_classes_never_seen_give_zero_rows():
    matrix = confusion_matrix([1, 1], [1, 1], num_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[1, 1] = 2
    np.testing.assert_array_equal(matrix, expected)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1, 2], [0, 1], 3)


@pytest.mark.parametrize("bad", [[0, 3], [-1, 0]])
def test_labels_out_of_range_are_rejected(bad):
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        confusion_matrix(bad, [0, 0], 3)


def test_non_integer_labels_are_rejected():
    with pytest.raises(TypeError, match="integer labels"):
        confusion_matrix([0.0, 1.0], [0, 1], 2)


def test_two_dimensional_labels_are_rejected():
    with pytest.raises(ValueError, match="1-D"):
        confusion_matrix(np.eye(3, dtype=int), [0, 1, 2], 3)


@pytest.mark.parametrize(
    ("num_classes", "error"), [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)]
)
def test_bad_num_classes_is_rejected(num_classes, error):
    with pytest.raises(error, match="num_classes"):
        confusion_matrix([0], [0], num_classes)
