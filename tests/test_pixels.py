import numpy as np

from pic2emoji.pixels import block_means, composite, nearest_pattern, to_uint8, upsample_cells


def test_to_uint8_rounds_and_clips():
    assert to_uint8(np.array([-3.0, 0.4, 0.6, 254.5, 300.0])).tolist() == [0, 0, 1, 255, 255]


def test_block_means_of_any_leading_shape():
    images = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
    means = block_means(images, 2)
    assert means.shape == (2, 2, 3, 3)
    assert means[1, 0, 2, 1] == images[1, 0:2, 4:6, 1].mean()


def test_composite_never_reads_transparent_as_black():
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 0, 0], [0, 0, 255, 128]]], np.uint8)
    out = composite(rgba, (100, 200, 50))
    np.testing.assert_allclose(out[0], [[255, 0, 0], [100, 200, 50], [100 * 127 / 255, 200 * 127 / 255, 50 * 127 / 255 + 128]],
                               atol=0.01)


def test_block_means_of_bytes_are_the_float_means_exactly():
    images = np.random.default_rng(1).integers(0, 256, (5, 72, 72, 3), dtype=np.uint8)
    for block in (1, 6, 36, 72):
        np.testing.assert_array_equal(block_means(images, block), block_means(images.astype(np.float32), block))


def test_nearest_pattern_takes_the_pixel_under_each_output_pixel_centre():
    assert nearest_pattern(8).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3,
                                           4, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 7]
    assert nearest_pattern(36).tolist() == list(range(36)) and nearest_pattern(1).tolist() == [0] * 36
    image = np.arange(2 * 5 * 3 * 5, dtype=np.int32).reshape(10, 15, 1)  # 2×3 cells of 5 px
    up = upsample_cells(image, (2, 3))
    assert up.shape == (72, 108, 1)
    assert np.array_equal(up[40, 36:72, 0], image[5 + nearest_pattern(5)[40 - 36], 5 + nearest_pattern(5), 0])
