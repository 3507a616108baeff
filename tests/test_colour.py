"""Colour: sRGB to CIELAB and CIEDE2000 against the standard values and scikit-image (the oracle)."""
import numpy as np

from pic2emoji.colour import delta_e2000, srgb_to_lab


def test_lab_of_the_standard_colours():
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.float32))
    np.testing.assert_allclose(lab, [[100, 0, 0], [0, 0, 0], [53.24, 80.09, 67.20]], atol=0.05)


def test_delta_e2000_agrees_with_scikit_image_and_the_published_pairs():
    from skimage.color import deltaE_ciede2000
    rng = np.random.default_rng(0)
    a = rng.uniform([0, -100, -100], [100, 100, 100], (5000, 3))
    b = a + rng.normal(0, 15, a.shape)
    a[:50, 1:] = 0  # greys: hue undefined
    b[50:100] = a[50:100]
    np.testing.assert_allclose(delta_e2000(a, b), deltaE_ciede2000(a, b), atol=1e-9)
    # Sharma, Wu & Dalal (2005), table 1, pairs 1, 3, 17 and 34
    first = np.array([[50, 2.6772, -79.7751], [50, -1.3802, -84.2814], [50, 2.5, 0], [90.9257, -0.5406, -0.9208]])
    second = np.array([[50, 0, -82.7485], [50, 0, -82.7485], [73, 25, -18], [88.6381, -0.8985, -0.7239]])
    np.testing.assert_allclose(delta_e2000(first, second), [2.0425, 1.0, 27.1492, 1.5381], atol=1e-4)


def test_neighbour_sums_add_up_the_four_cells_around_each_one_and_fewer_at_the_edges():
    from pic2emoji.colour import neighbour_sums
    np.testing.assert_array_equal(neighbour_sums(np.ones((3, 4), np.float32)), [[2, 3, 3, 2], [3, 4, 4, 3], [2, 3, 3, 2]])
    np.testing.assert_array_equal(neighbour_sums(np.arange(6.0).reshape(2, 3)), [[4, 6, 6], [4, 9, 6]])
