"""Dark photos (issue 29, item 7): how near the default mosaic (refine, --background auto) comes to their
colours, and how many distinct emoji it uses, on night, indoor low-light and dark-animal versions of the
example photos.

    python benchmarks/dark_photos.py [--cols 72] [--set noto] [--save DIR]

The dark versions are made here, seeded, from examples/photos: `night` (a fifth of the light, bluish),
`indoor` (a third, warm, with sensor noise), `dark` (a quarter, as a dark animal or a dim room). dE@2:
mean CIEDE2000 of 2×2-cell blocks, photo against mosaic (pic2emoji.quality, needs scikit-image). `off`:
the share of 2×2-cell windows more than ΔE00 10 from the photo's (Converter.unreached); infer suggests
--cell-colour above UNREACHED. With --originals, the example photos themselves too. --save writes each
photo and mosaic.
"""
import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pic2emoji.convert import measure
from pic2emoji.converter import UNREACHED, Converter
from pic2emoji.options import Options

PHOTOS = Path(__file__).resolve().parent.parent / "examples" / "photos"
# name: (light kept, per-channel tint, noise σ in levels)
DARKENINGS = {"night": (0.2, (0.8, 0.9, 1.15), 0.0), "indoor": (0.33, (1.1, 0.95, 0.75), 3.0),
              "dark": (0.25, (1.0, 1.0, 1.0), 0.0)}


def darkened(image: Image.Image, how: str, seed: int = 0) -> Image.Image:
    """The photo in less light: its linear light scaled (and tinted), back to sRGB, with noise."""
    light, tint, noise = DARKENINGS[how]
    srgb = np.asarray(image.convert("RGB"), np.float32) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4) * light * np.float32(tint)
    out = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.clip(linear, 0, 1) ** (1 / 2.4) - 0.055) * 255
    out = out + np.random.default_rng(seed).normal(0, noise, out.shape) if noise else out
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def dark_photos() -> dict:
    """name -> PIL image: every example photo in every darkening."""
    return {f"{p.stem}-{how}": darkened(Image.open(p), how) for p in sorted(PHOTOS.iterdir()) for how in DARKENINGS}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="noto")
    parser.add_argument("--cols", type=int, default=72)
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument("--originals", action="store_true")
    args = parser.parse_args()
    converter = Converter(args.set)
    options = Options("png", cols=args.cols)
    print(f"{'photo':18} {'background':>10} {'dE@2':>6} {'SSIM@6':>7} {'cell-PSNR':>9} {'distinct':>8} {'off':>5} {'s':>5}")
    photos = dark_photos()
    if args.originals:
        photos.update({p.stem: Image.open(p).convert("RGB") for p in sorted(PHOTOS.iterdir())})
    totals = []
    for name, image in photos.items():
        start = time.perf_counter()
        scores = measure(converter, image, options)
        off = converter.unreached(converter.cells(image, options))
        seconds = time.perf_counter() - start
        if "-" in name:
            totals.append((scores["de2"], scores["distinct"]))
        print(f"{name:18} {scores['background']:>10} {scores['de2']:6.2f} {scores['ssim6']:7.4f} "
              f"{scores['cell_psnr']:9.2f} {scores['distinct']:8d} {off:4.0%}{'*' if off > UNREACHED else ' '} {seconds:5.1f}")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            image.save(args.save / f"{name}.png")
            grid, _, background = converter.cells(image, options)
            converter.image(grid, 24, background).save(args.save / f"{name}-mosaic.png")
    de2, distinct = np.array(totals).T
    print(f"mean over the {len(totals)} dark ones: dE@2 {de2.mean():.2f}, distinct emoji {distinct.mean():.0f} (min {distinct.min():.0f})")


if __name__ == "__main__":
    main()
