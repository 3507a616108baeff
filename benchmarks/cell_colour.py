"""dE@2 of --cell-colour mosaics against plain ones, on the same photos and grids (issue 15's target:
at most 0.8× the plain mosaic's). dE@2: mean CIEDE2000 (scikit-image) between photo and mosaic, both
box-averaged to blocks of 2×2 cells.

    python benchmarks/cell_colour.py [--cols 72]

Photos: examples/photos and scikit-learn's two bundled samples (china, flower). Needs scikit-image and
scikit-learn (pip install scikit-image scikit-learn).
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from sklearn.datasets import load_sample_images

from pic2emoji.converter import Converter
from pic2emoji.photo import fit_to_grid
from pic2emoji.pixels import block_means

PHOTOS = Path(__file__).resolve().parent.parent / "examples" / "photos"


def de2(photo: np.ndarray, mosaic: np.ndarray, rows: int, cols: int) -> float:
    r, c = rows // 2 * 2 * 36, cols // 2 * 2 * 36
    blocks = lambda image: block_means(image[:r, :c].astype(np.float32), 72) / 255
    return float(deltaE_ciede2000(rgb2lab(blocks(photo)), rgb2lab(blocks(mosaic))).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="noto")
    parser.add_argument("--cols", type=int, default=72)
    args = parser.parse_args()
    converter = Converter(args.set)
    photos = {p.name: Image.open(p).convert("RGB") for p in sorted(PHOTOS.iterdir())}
    photos.update({name: Image.fromarray(a) for name, a in zip(["china.jpg", "flower.jpg"], load_sample_images().images)})
    print(f"{'photo':16} {'dE@2 plain':>10} {'cell colour':>11} {'ratio':>6}")
    for name, image in photos.items():
        grid, colours, _ = converter.cells(image, cols=args.cols)
        photo = fit_to_grid(image, converter.model.background, grid.shape)
        plain = np.asarray(converter.renderer.image(grid, 36))
        coloured = np.asarray(converter.renderer.image(grid, 36, converter.renderer.backgrounds(grid, colours)))
        a, b = de2(photo, plain, *grid.shape), de2(photo, coloured, *grid.shape)
        print(f"{name:16} {a:10.2f} {b:11.2f} {b / a:6.2f}")


if __name__ == "__main__":
    main()
