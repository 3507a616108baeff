"""Refine a mosaic as a whole, so that its colours seen from a step back match the photo's: numpy only.

A choice per cell, however good, can at best tie the nearest-colour lookup: the photo's colours that no
emoji has stay lost. Neighbouring cells can make them up between them (a red and a yellow emoji read
as orange from a step back). Iterated conditional modes does that: from the net's choice, each cell
in turn picks among its k nearest emoji by the structure term the one that minimises

    structure / 36  +  weight · Σ ΔE00(mean of window, photo's window)²  +  edge · Σ (Δluma − Δluma of neighbour)²

The structure term (the 6×6 block colour distance plus that of the 6×6 grey pattern less its mean) keeps
what is inside each cell, which SSIM sees. The second is colour as a person sees it from a step back:
CIEDE2000 over the (up to four) overlapping 2×2-cell windows the cell belongs to. The third keeps the
light and dark from cell to cell: a cell's error in luma (its mean grey less the photo's) should be
that of its four neighbours, so a colour is mixed from neighbours of one lightness (chroma) rather
than from light and dark ones, which would read as texture the photo lacks (SSIM is greyscale) and
cost cell-PSNR. Cells are updated in four interleaved sub-grids (row and column parity), so no two
cells updated together share a window or are neighbours: each step is one vectorised numpy pass, and
the result is the same on every run.
"""
import numpy as np

from .data import Nearest, oracle_view

_SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],  # IEC 61966-2-1, D65
                         [0.2126729, 0.7151522, 0.0721750],
                         [0.0193339, 0.1191920, 0.9503041]], np.float32)
_WHITE = np.array([0.95047, 1.0, 1.08883], np.float32)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601 luma, as Pillow's convert("L")


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


class Refiner:
    """ICM over the mosaic for one emoji set on its background.

    class_blocks: (N, 108) every class's tile on the background as data.oracle_view sees it (6×6 block
    means). k: candidates per cell; weight: of the colour term; sweeps: passes over the grid; pattern:
    weight of the 6×6 grey pattern (less its mean) in the structure term, beside the 6×6 colour
    distance: it keeps the shapes inside cells, which SSIM sees, while the colour term moves their mean;
    edge: weight of the luma term, which keeps the light and dark between neighbouring cells.
    """
    def __init__(self, class_blocks: np.ndarray, k: int = 16, weight: float = 12.0, sweeps: int = 2,
                 pattern: float = 2.0, edge: float = 0.5):
        self.k, self.weight, self.sweeps, self.pattern, self.edge = k, weight, sweeps, pattern, edge
        class_blocks = np.asarray(class_blocks, np.float32)
        self.lookup = Nearest.of_blocks(class_blocks)
        self.blocks = self.structure(class_blocks)
        self.half_norms = (self.blocks ** 2).sum(1) / 2
        self.means = class_blocks.reshape(len(class_blocks), 36, 3).mean(1)  # (N, 3): each tile's colour

    def structure(self, view: np.ndarray) -> np.ndarray:
        """The 6×6 block means and their grey pattern, scaled so that L2 over them is the structure term."""
        grey = view.reshape(len(view), 36, 3) @ LUMA
        grey -= grey.mean(1, keepdims=True)
        return np.concatenate([view, grey * np.float32(np.sqrt(self.pattern))], 1)

    def nearest(self, patches: np.ndarray, allowed=None) -> np.ndarray:
        """The 6×6 nearest-colour lookup (data.Nearest) among the allowed classes."""
        return self.lookup(patches, allowed)

    def candidates(self, view: np.ndarray, start: np.ndarray, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's k nearest allowed classes by the structure term, its start among them: (cells, k)
        classes and their structure term (squared L2 / 36). `view`: the patches' oracle_view."""
        view = self.structure(view)
        scores = view @ self.blocks.T - self.half_norms  # larger is nearer: -(distance² - |view|²) / 2
        if allowed is not None:
            scores[:, ~np.asarray(allowed, bool)] = -np.inf
        k = min(self.k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(np.arange(k), (len(view), 1))
        top = np.sort(top, axis=1)  # a fixed order: ties break the same way every run
        missing = ~(top == start[:, None]).any(1)
        worst = np.take_along_axis(scores, top, 1).argmin(1)
        top[missing, worst[missing]] = start[missing]
        distance = (view ** 2).sum(1, keepdims=True) - 2 * np.take_along_axis(scores, top, 1)
        return top, distance / 36

    def __call__(self, patches: np.ndarray, shape, start: np.ndarray, allowed=None) -> np.ndarray:
        """(rows·cols, 36, 36, 3) patches and a start grid of classes -> the refined (rows, cols) grid."""
        rows, cols = shape
        start = np.asarray(start).reshape(-1)
        view = oracle_view(patches)
        top, unary = self.candidates(view, start, allowed)
        top, unary = top.reshape(rows, cols, -1), unary.reshape(rows, cols, -1)
        pick = (top == start.reshape(rows, cols, 1)).argmax(-1)  # index of the start among the candidates
        if rows < 2 or cols < 2 or self.weight == 0:
            return np.take_along_axis(top, pick[..., None], -1)[..., 0]
        photo = view.reshape(rows, cols, 36, 3).mean(2)  # each cell's colour
        target = srgb_to_lab(window_sums(photo) / 4)  # (rows-1, cols-1, 3)
        colours = self.means[top]  # (rows, cols, k, 3)
        luma_error = colours @ LUMA - (photo @ LUMA)[..., None]  # (rows, cols, k)
        neighbours = _neighbour_sums(np.ones((rows, cols), np.float32))
        for _ in range(self.sweeps):
            for a in (0, 1):
                for b in (0, 1):
                    current = np.take_along_axis(colours, pick[..., None, None], 2)[:, :, 0]
                    e = luma_error[a::2, b::2]
                    around = _neighbour_sums(np.take_along_axis(luma_error, pick[..., None], 2)[..., 0])[a::2, b::2, None]
                    # Σ over the neighbours n of (e − e_n)², less the part that is the same for every candidate
                    cost = unary[a::2, b::2] + self.edge * (neighbours[a::2, b::2, None] * e ** 2 - 2 * e * around)
                    sums = window_sums(current)
                    for di in (0, 1):
                        for dj in (0, 1):  # the window whose top-left cell is (i - di, j - dj)
                            wi, wj = _window_rows(a, di, rows), _window_rows(b, dj, cols)
                            ci, cj = wi + di, wj + dj  # the cells of this sub-grid those windows hold
                            ci_sub, cj_sub = (ci - a) // 2, (cj - b) // 2
                            others = sums[np.ix_(wi, wj)] - current[np.ix_(ci, cj)]
                            mean = (others[:, :, None] + colours[np.ix_(ci, cj)][:, :, :, :]) / 4
                            error = delta_e2000(srgb_to_lab(mean), target[np.ix_(wi, wj)][:, :, None]) ** 2
                            cost[np.ix_(ci_sub, cj_sub)] += self.weight * error
                    pick[a::2, b::2] = cost.argmin(-1)
        return np.take_along_axis(top, pick[..., None], -1)[..., 0]


def window_sums(cells: np.ndarray) -> np.ndarray:
    """(rows, cols, 3) -> (rows-1, cols-1, 3): the sum of each 2×2 window of cells."""
    return cells[:-1, :-1] + cells[1:, :-1] + cells[:-1, 1:] + cells[1:, 1:]


def _neighbour_sums(cells: np.ndarray) -> np.ndarray:
    """(rows, cols) -> (rows, cols): the sum over each cell's (up to four) neighbours, up, down, left, right."""
    padded = np.pad(cells, 1)
    return padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]


def _window_rows(parity: int, offset: int, size: int) -> np.ndarray:
    """The windows (along one axis) that hold a cell of this parity at this offset from their first."""
    first = parity - offset
    return np.arange(first + (first < 0) * 2, size - 1, 2)
