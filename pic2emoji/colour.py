"""Colour as people see it, in numpy: luma, sRGB to CIELAB, CIEDE2000, and sums over 2×2-cell windows
and over each cell's neighbours.

The ground floor of the colour choices (the background choice, refine, cell colours); it imports
nothing of ours. The metrics of quality.py compute CIEDE2000 with scikit-image; a test checks the two
agree.
"""
import numpy as np

_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],  # IEC 61966-2-1, D65
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]], np.float32)
_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma, as Pillow's convert("L")


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (...) luma, in the same units."""
    return rgb @ LUMA


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3) in 0..255 -> CIELAB (D65): the standard formulas, for choosing (the metrics use
    scikit-image)."""
    c = np.asarray(rgb, np.float32) / 255
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = linear @ (_SRGB_TO_XYZ.T / _WHITE)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 between CIELAB arrays (..., 3), broadcast (Sharma, Wu & Dalal 2005; the metrics' formula,
    which scikit-image computes there; a test checks the two agree)."""
    (l1, a1, b1), (l2, a2, b2) = np.moveaxis(lab1, -1, 0), np.moveaxis(lab2, -1, 0)
    c7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    stretch = 1.5 - 0.5 * np.sqrt(c7 / (c7 + 25.0 ** 7))  # a* stretched near the grey axis
    a1, a2 = a1 * stretch, a2 * stretch
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    chromatic = c1 * c2 != 0
    h1, h2 = np.arctan2(b1, a1) % (2 * np.pi), np.arctan2(b2, a2) % (2 * np.pi)
    dh = np.where(chromatic, (h2 - h1 + np.pi) % (2 * np.pi) - np.pi, 0)  # the short way round
    h = np.where(chromatic, h1 + dh / 2, h1 + h2)  # mean hue
    l, c = (l1 + l2) / 2 - 50, (c1 + c2) / 2
    t = 1 - 0.17 * np.cos(h - np.pi / 6) + 0.24 * np.cos(2 * h) + 0.32 * np.cos(3 * h + np.pi / 30) - 0.2 * np.cos(4 * h - 0.35 * np.pi)
    rotation = -np.sin(np.pi / 3 * np.exp(-((np.degrees(h) % 360 - 275) / 25) ** 2)) * 2 * np.sqrt(c ** 7 / (c ** 7 + 25.0 ** 7))
    dl = (l2 - l1) / (1 + 0.015 * l ** 2 / np.sqrt(20 + l ** 2))
    dc = (c2 - c1) / (1 + 0.045 * c)
    dhue = 2 * np.sqrt(c1 * c2) * np.sin(dh / 2) / (1 + 0.015 * c * t)
    return np.sqrt(np.maximum(dl ** 2 + dc ** 2 + dhue ** 2 + rotation * dc * dhue, 0))


def window_sums(cells: np.ndarray) -> np.ndarray:
    """(rows, cols, 3) -> (rows-1, cols-1, 3): the sum of each 2×2 window of cells."""
    return cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]


def neighbour_sums(cells: np.ndarray) -> np.ndarray:
    """(rows, cols) -> (rows, cols): the sum over each cell's (up to four) neighbours, up, down, left, right."""
    padded = np.pad(cells, 1)
    return padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
