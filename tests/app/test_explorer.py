"""The explorer helpers of pages/explorer.py, checked on tiny hand-made arrays."""

import numpy as np
import pytest

from pages.explorer import enlarge, mean_images, sample_indices


def test_mean_images_average_each_digit_and_zero_the_missing_ones():
    x = np.zeros((4, 28, 28), dtype=np.uint8)
    x[0, 0, 0], x[1, 0, 0], x[2, 5, 5], x[3, 1, 1] = 100, 200, 255, 10
    y = np.array([3, 3, 7, 0], dtype=np.uint8)
    means = mean_images(x, y)
    assert means.shape == (10, 28, 28) and means.dtype == np.float32
    assert means[3, 0, 0] == pytest.approx(150.0)
    assert means[7, 5, 5] == pytest.approx(255.0)
    assert means[0, 1, 1] == pytest.approx(10.0)
    assert not means[5].any()  # no example of 5: zeros, not NaN


def test_mean_images_match_a_per_digit_loop_on_real_data(mnist):
    x, y = mnist.x_test[:500], mnist.y_test[:500]
    means = mean_images(x, y)
    for digit in range(10):
        np.testing.assert_allclose(
            means[digit], x[y == digit].astype(np.float64).mean(axis=0), rtol=1e-5
        )


def test_sample_indices_are_reproducible_distinct_and_filtered():
    y = np.array([1, 2, 1, 3, 1, 2, 1, 1], dtype=np.uint8)
    a = sample_indices(y, 3, seed=5, digit=1)
    assert np.array_equal(a, sample_indices(y, 3, seed=5, digit=1))
    assert len(set(a.tolist())) == 3 and (y[a] == 1).all()
    assert len(sample_indices(y, 40, seed=0, digit=2)) == 2  # only two 2s exist
    assert len(sample_indices(y, 40, seed=0)) == len(y)
    seeds = {tuple(sample_indices(np.zeros(1000), 5, seed=s)) for s in range(5)}
    assert len(seeds) > 1  # another seed shows other examples


def test_enlarge_repeats_pixels_and_converts_floats_to_uint8():
    image = np.array([[0.0, 1.0], [0.5, 0.25]], dtype=np.float32)
    big = enlarge(image, 3)
    assert big.shape == (6, 6) and big.dtype == np.uint8
    assert (big[:3, :3] == 0).all() and (big[:3, 3:] == 255).all()
    assert (big[3:, :3] == 128).all() and (big[3:, 3:] == 64).all()
    assert np.array_equal(enlarge(np.array([[7]], dtype=np.uint8), 2), np.full((2, 2), 7, np.uint8))
    with pytest.raises(ValueError):
        enlarge(np.zeros((2, 2, 2)), 2)
