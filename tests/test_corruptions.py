"""mnist_core.corruptions: deterministic, shaped like the input, each one changing the digits."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core.corruptions import CORRUPTIONS, corrupt


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_test[:40]


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_is_deterministic_and_shaped_like_its_input(digits, name):
    once, again = corrupt(name, digits), corrupt(name, digits)
    assert once.shape == digits.shape and once.dtype == np.uint8
    assert np.array_equal(once, again)  # the same set on every call


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_changes_every_picture(digits, name):
    changed = np.abs(corrupt(name, digits).astype(int) - digits).reshape(len(digits), -1)
    assert (changed.max(axis=1) > 40).all()  # not a speck here and there: every digit


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_slice_gets_the_same_pictures_as_the_whole_set(digits, name):
    whole = corrupt(name, digits)
    assert np.array_equal(corrupt(name, digits[10:20], first=10), whole[10:20])


def test_the_images_own_parameters_differ(digits):
    """Each image gets its own angle: two copies of one digit are rotated differently."""
    same = np.repeat(digits[:1], 2, axis=0)
    first, second = corrupt("rotation", same)
    assert not np.array_equal(first, second)


def test_what_the_corruptions_do(digits):
    ink = digits.astype(float).sum()
    assert corrupt("thick", digits).astype(float).sum() > 1.5 * ink
    assert corrupt("thin", digits).astype(float).sum() < 0.8 * ink
    assert np.array_equal(corrupt("inversion", digits), 255 - digits)
    photo = corrupt("photo", digits)
    assert np.median(photo) > 120  # light paper, dark ink
    crossed = corrupt("line", digits)
    assert (crossed[:, :, 0] > 100).any(axis=1).all() and (crossed[:, :, -1] > 100).any(
        axis=1
    ).all()
    small = corrupt("scale", digits)
    rows = [np.flatnonzero(d.max(axis=1) > 60) for d in small]
    assert max(r[-1] - r[0] + 1 for r in rows) <= 17  # MNIST's 20 px, written smaller
