"""Issue 28, target 4: does the live camera keep colours? The page's grid on a still camera frame, before
(the net's arg-max, what the page showed until then: the revision's own live model, from git), now on
the first frame (live.py's rules: the net, then the colour touch-up) and settled (after live.SETTLE still
frames: refine's mosaic where it is nearer), against the command line's default (refine) on the same
cells, palette and background. The page's own graphs (cells.onnx, net.onnx) run in onnxruntime.

    python benchmarks/live_colours.py [--before 3203202] [--photos FOLDER]

1. Flat dark colours, each a quarter of the frame: the mean CIEDE2000 of the region's emoji (their mean
   colour on the background, inside the region) from the colour, against the best any single emoji of
   the palette reaches; the target is within 1.3× (+2) of it.
2. The photos of docs/QUALITY.md (or every picture in FOLDER): dE@2 and SSIM@6 (quality.estimate, from the
   views) of the grid.
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pic2emoji import Converter
from pic2emoji.colour import delta_e2000, srgb_to_lab
from pic2emoji.live import SETTLE, Page
from pic2emoji.modelfile import model_path
from pic2emoji.pixels import upsample_cells
from pic2emoji.photo import cut_patches
from pic2emoji.quality import estimate
from pic2emoji.web import web_files

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import fidelity_photos  # noqa: E402

ROWS, COLS, K = 54, 72, 8
FLAT = {"green": (0, 110, 0), "brown": (90, 55, 25), "blue": (20, 40, 120), "red": (130, 15, 15)}


def rgba(rgb: np.ndarray) -> np.ndarray:
    return np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], -1)


def now(files: dict, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The page's grid (cells,) on a still camera's first frame, two workers as on 2 cores, the grid once
    settled, and the views."""
    page = Page(files)
    grid, _, view = page.frame(rgba(rgb))
    for _ in range(SETTLE):
        settled = page.frame(rgba(rgb))[0]
    return grid.ravel(), settled.ravel(), view


def refine(converter: Converter, rgb: np.ndarray) -> np.ndarray:
    """The command line's default method on the same cells (serve's nearest-neighbour grid), palette, grey."""
    allowed = converter.allowed("terminal")
    patches = cut_patches(upsample_cells(rgb, (ROWS, COLS)), (ROWS, COLS))
    return converter.refiner()(patches, (ROWS, COLS), converter.classifier(patches, allowed), allowed).ravel()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="3203202", help="the revision whose live model the page ran before")
    parser.add_argument("--photos", type=Path, default=None, metavar="FOLDER", help="these photos instead")
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    converter = Converter("noto", model_path("noto", fast=True))
    with tempfile.TemporaryDirectory() as temp:
        old = Path(temp) / "noto-fast.safetensors"
        old.write_bytes(subprocess.run(["git", "-C", root, "show", f"{args.before}:models/noto-fast.safetensors"],
                                       check=True, capture_output=True).stdout)
        before = Page(web_files(Converter("noto", old), ROWS, COLS))  # its arg-max: what the page showed
    files = web_files(converter, ROWS, COLS)
    class_views, allowed = converter.views_on(), converter.allowed("terminal")
    labs = srgb_to_lab(converter.refiner().means)
    frame = np.zeros((ROWS * K, COLS * K, 3), np.uint8)
    regions = [(slice(r * ROWS * K // 2, (r + 1) * ROWS * K // 2), slice(c * COLS * K // 2, (c + 1) * COLS * K // 2))
               for r in (0, 1) for c in (0, 1)]
    for (rows, cols), colour in zip(regions, FLAT.values()):
        frame[rows, cols] = colour
    first, settled, _ = now(files, frame)
    grids = {"before": before.picks(rgba(frame)), "first frame": first, "settled": settled, "refine (CLI)": refine(converter, frame)}
    print("flat colours, a still camera: mean CIEDE2000 of each region's emoji from its colour")
    print(f"| colour | best single emoji | target | {' | '.join(grids)} |")
    for (name, colour), (rows, cols) in zip(FLAT.items(), regions):
        lab = srgb_to_lab(np.float32(colour))
        best = float(delta_e2000(labs[allowed], lab).min())
        inner = lambda grid: grid.reshape(ROWS, COLS)[rows.start // K + 2:rows.stop // K - 2, cols.start // K + 2:cols.stop // K - 2]
        scores = [float(delta_e2000(labs[inner(g).ravel()], lab).mean()) for g in grids.values()]
        print(f"| {name} {colour} | {best:.1f} | ≤ {1.3 * best + 2:.1f} | " + " | ".join(f"{s:.1f}" for s in scores) + " |")
    print("\nphotos (a still 576×432 camera): dE@2 / SSIM@6")
    print("| photo | before (arg-max) | first frame | settled | refine (CLI default) |")
    nearer, photos = [0, 0], fidelity_photos(args.photos)
    for name, image in photos.items():
        rgb = np.asarray(ImageOps.fit(image, (COLS * K, ROWS * K), Image.LANCZOS))
        first, settled, view = now(files, rgb)
        grids = (before.picks(rgba(rgb)), first, settled, refine(converter, rgb))
        scores = [estimate(view, class_views[g], (ROWS, COLS)) for g in grids]
        nearer = [n + (s["de2"] <= scores[3]["de2"]) for n, s in zip(nearer, scores[1:3])]
        print(f"| {name} | " + " | ".join(f"{s['de2']:.2f} / {s['ssim6']:.3f}" for s in scores) + " |")
    print(f"\nas near as refine or nearer in dE@2: the first frame on {nearer[0]}, settled on {nearer[1]} of {len(photos)} photos")


if __name__ == "__main__":
    main()
