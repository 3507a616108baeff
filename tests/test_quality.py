"""The mosaic metrics on synthetic images whose CIEDE2000 is known from the formula."""
import numpy as np
import pytest

from pic2emoji.quality import fidelity, mean_delta_e, ssim

from conftest import needs

needs("skimage")


def grey_of_lightness(lightness: float) -> float:
    """The sRGB value (0..255) of the neutral grey with CIELAB L* = lightness (CIE and sRGB formulas)."""
    y = ((lightness + 16) / 116) ** 3 if lightness > 8 else lightness / 903.3
    return 255 * (1.055 * y ** (1 / 2.4) - 0.055 if y > 0.0031308 else 12.92 * y)


def flat(value, rows=2, cols=2, px=36) -> np.ndarray:
    return np.full((rows * px, cols * px, 3), value, np.float64)


def test_black_against_white_is_100():
    assert mean_delta_e(flat(0.0), flat(255.0), 36) == pytest.approx(100, abs=0.01)


def test_two_greys_follow_the_lightness_weighting():
    # Only L* differs: ΔE00 = ΔL / S_L with S_L = 1 + 0.015 (L̄ - 50)² / sqrt(20 + (L̄ - 50)²); L̄ = 55.
    expected = 10 / (1 + 0.015 * 25 / np.sqrt(45))
    assert mean_delta_e(flat(grey_of_lightness(50)), flat(grey_of_lightness(60)), 72) == pytest.approx(expected, abs=0.01)


def test_two_cell_blocks_average_before_comparing():
    # Columns of black and white cells: from a step back (2×2 cells) the photo is mid-grey, like a grey
    # mosaic, but every single cell is far from it.
    photo = flat(0.0, 4, 4)
    photo[:, 36:72] = photo[:, 108:] = 255
    grey = flat(255 * 0.5, 4, 4)  # the box-average in sRGB values, as the metric takes it
    scores = fidelity(photo.astype(np.uint8), np.full_like(photo, 127.5).astype(np.uint8), (4, 4))
    assert mean_delta_e(photo, grey, 72) == pytest.approx(0, abs=1e-6)
    assert scores["de2"] < 0.5 and scores["de1"] > 30


def test_identical_images_score_perfectly():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (4 * 36, 6 * 36, 3), dtype=np.uint8)
    scores = fidelity(photo, photo, (4, 6))
    assert scores["de2"] == 0 and scores["de1"] == 0 and scores["ssim6"] == pytest.approx(1) and scores["cell_psnr"] > 90


def test_a_partial_block_is_left_out_and_tiny_grids_refused():
    photo = flat(0.0, 3, 3)
    mosaic = photo.copy()
    mosaic[72:] = 255  # the third row of cells: no whole 2×2 block there
    assert mean_delta_e(photo, mosaic, 72) == 0 and mean_delta_e(photo, mosaic, 36) == pytest.approx(100 / 3, abs=0.01)
    with pytest.raises(ValueError, match="too small"):
        fidelity(flat(0, 1, 5).astype(np.uint8), flat(0, 1, 5).astype(np.uint8), (1, 5))


def test_ssim_is_scikit_images_gaussian_ssim():
    from skimage import metrics
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (48, 60)).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    theirs = metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                           data_range=255)
    assert ssim(a, b) == pytest.approx(theirs, abs=1e-6)
