"""How faithful a mosaic is to its photo: four figures, shared by `infer --metrics` and the benchmark.

Both images are RGB at 36 px per grid cell (the photo as infer cut it, the mosaic drawn with 36 px tiles).
- cell_psnr: PSNR after both are box-averaged to one pixel per cell (colour at grid resolution);
- ssim6: greyscale SSIM after both are resized to 6×6 px per cell (some structure inside the cells);
- de2: mean CIEDE2000 (CIELAB, D65) after both are box-averaged to blocks of 2×2 cells: colour as it is
  seen from a step back, where a brown dog drawn in dark grey loses what PSNR keeps;
- de1: the same per cell.
ΔE comes from scikit-image (`pip install pic2emoji[quality]`), not from a formula of our own. `estimate`
gives dE@2, cell-PSNR and SSIM@6 from the cells' 6×6 views alone, in numpy: what refine judges by.
"""
import numpy as np
from PIL import Image

from .colour import delta_e2000, srgb_to_lab
from .defaults import BLOCKS, PATCH
from .errors import Pic2EmojiError
from .pixels import block_means
from .views import grey_views

NEEDS_SKIMAGE = "--metrics needs scikit-image for CIEDE2000: pip install 'pic2emoji[quality]' (or scikit-image)"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-10)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two greyscale images (Gaussian window, sigma 1.5, the usual constants)."""
    g = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    g /= g.sum()

    def blur(x):  # separable, "valid": each output pixel from the 11×11 window wholly inside the image
        x = np.lib.stride_tricks.sliding_window_view(x, len(g), axis=0) @ g
        return np.lib.stride_tricks.sliding_window_view(x, len(g), axis=1) @ g
    a, b = a.astype(np.float64), b.astype(np.float64)
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma ** 2, blur(b * b) - mb ** 2, blur(a * b) - ma * mb
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float(np.mean((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))))


def require() -> None:
    """Raise our one-line error now, before any work, if scikit-image is missing."""
    _color()


def _color():
    try:
        from skimage import color
    except ImportError:
        raise Pic2EmojiError(NEEDS_SKIMAGE) from None
    return color


def mean_delta_e(a: np.ndarray, b: np.ndarray, block: int) -> float:
    """Mean CIEDE2000 between two RGB images (0..255) box-averaged to block×block pixels; a partial
    last row or column of blocks is left out."""
    color = _color()
    h, w = (a.shape[0] // block) * block, (a.shape[1] // block) * block
    if h == 0 or w == 0:
        raise ValueError(f"an image of {a.shape[1]}×{a.shape[0]} px has no whole {block}×{block} block")
    lab = [color.rgb2lab(block_means(x[:h, :w].astype(np.float32), block).astype(np.float64) / 255) for x in (a, b)]
    return float(np.mean(color.deltaE_ciede2000(*lab)))


def fidelity(photo: np.ndarray, mosaic: np.ndarray, shape) -> dict:
    """The four figures for one mosaic, both images at 36 px per cell of the (rows, cols) grid."""
    rows, cols = shape
    if min(rows, cols) * 6 < 11:  # SSIM's 11-px window does not fit
        raise ValueError(f"a {cols}×{rows} grid is too small to measure; give 2 or more rows and columns")
    grey6 = lambda im: np.asarray(Image.fromarray(im).convert("L").resize((cols * 6, rows * 6), Image.BOX))
    return {"de2": round(mean_delta_e(photo, mosaic, 2 * PATCH), 3), "de1": round(mean_delta_e(photo, mosaic, PATCH), 3),
            "cell_psnr": round(psnr(block_means(photo, PATCH), block_means(mosaic, PATCH)), 2),
            "ssim6": round(ssim(grey6(photo), grey6(mosaic)), 4)}


def describe(scores: dict) -> str:
    """infer --metrics' line for a dict from convert.measure."""
    return (f"dE@2 {scores['de2']:.2f}  dE@1 {scores['de1']:.2f}  cell-PSNR {scores['cell_psnr']:.2f} dB  "
            f"SSIM@6 {scores['ssim6']:.4f}  distinct {scores['distinct']}  ({scores['rows']}×{scores['cols']}, "
            f"{scores['method']}, palette {scores['palette']}, background {scores['background']})")


def estimate(photo: np.ndarray, mosaic: np.ndarray, shape) -> dict:
    """quality.fidelity's dE@2, cell-PSNR and SSIM@6 of a mosaic, from the views (N, 108) of the
    photo's cells and of the tiles chosen, with numpy alone: what refine judges its mosaics by. The
    same formulas on the same 6×6 block means; only the metrics' rounding to bytes is left out."""
    rows, cols = shape
    cells = [v.reshape(rows, cols, BLOCKS, 3).mean(2) for v in (photo, mosaic)]
    h, w = rows // 2 * 2, cols // 2 * 2
    windows = [srgb_to_lab(block_means(c[:h, :w], 2)) for c in cells]  # 2×2-cell blocks, a partial last one left out
    greys = [grey_views(v, shape) for v in (photo, mosaic)]
    return {"de2": float(delta_e2000(*windows).mean()), "cell_psnr": psnr(*cells), "ssim6": ssim(*greys)}
