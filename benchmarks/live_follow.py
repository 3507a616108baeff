"""How the live camera's grid holds up when the net judges only a share of the moving cells a frame
(live.py, what page/worker.js does): the page's own graphs (cells.onnx, net.onnx) in onnxruntime,
on a camera panning across a photo, against the net judging every moved cell (the page before issue 28).

    python benchmarks/live_follow.py [--pan 8] [--shares 1,0.5,0.33,0.25] [--frames 40] [photos...]

Prints, per share, the mean over the frames (after the first) of dE@2, cell-PSNR and SSIM@6 from the
views (quality.estimate: the grid against each camera frame), the cells through the net a frame, and the
share of cells that show what the every-cell grid shows. `--pan`: pixels the camera moves between two
frames the page gets to (4 px a frame at 30 frames/s is 8 px at 15 frames/s); 8 px is a cell at 54×72.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pic2emoji import Converter
from pic2emoji.live import Page
from pic2emoji.modelfile import model_path
from pic2emoji.quality import estimate
from pic2emoji.web import web_files

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "photos"


def frames(photo: Path, count: int, pan: int, size=(576, 432), noise=4.0):
    """RGBA frames of the photo panned `pan` px a frame, with webcam noise."""
    wide = np.asarray(ImageOps.fit(Image.open(photo).convert("RGB"), (size[0] + pan * count, size[1]), Image.LANCZOS),
                      np.float32)
    rng = np.random.default_rng(0)
    for i in range(count):
        rgb = np.clip(wide[:, i * pan:i * pan + size[0]] + rng.normal(0, noise, (size[1], size[0], 3)), 0, 255)
        yield np.concatenate([rgb.round().astype(np.uint8), np.full((*rgb.shape[:2], 1), 255, np.uint8)], -1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path, default=sorted(EXAMPLES.iterdir()))
    parser.add_argument("--set", default="noto")
    parser.add_argument("--model", default=None, help="[default: the set's live model]")
    parser.add_argument("--pan", type=int, default=8)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--shares", default="0.25")
    parser.add_argument("--bands", type=int, default=2, help="workers (the page: one per core)")
    args = parser.parse_args()
    converter = Converter(args.set, args.model or model_path(args.set, fast=True))
    files = web_files(converter, 54, 72)
    shares = [float(s) for s in args.shares.split(",")]
    runs = [("the net on every moved cell (before)", 1e9, False), *((f"share {s:.3f}", s, False) for s in shares),
            *((f"share {s:.3f}, colour", s, True) for s in shares)]
    print(f"model {converter.model.path}, pan {args.pan} px a frame, {args.frames} frames, {args.bands} bands")
    for photo in args.photos:
        results = {}
        for label, share, touch in runs:
            page, scores, through, grids = Page(files, args.bands, share=share, touch=touch), [], [], []
            for f, frame in enumerate(frames(photo, args.frames, args.pan)):
                grid, judged, view = page.frame(frame)
                if f:
                    scores.append(estimate(view, page.class_views[grid.ravel()], grid.shape))
                    through.append(judged / grid.size)
                grids.append(grid)
            results[label] = (scores, through, grids)
        reference = results[runs[0][0]][2]
        print(photo.name)
        for label, (scores, through, grids) in results.items():
            alike = np.mean([(g == r).mean() for g, r in zip(grids[1:], reference[1:])])
            mean = {key: np.mean([s[key] for s in scores]) for key in scores[0]}
            print(f"  {label:>36}: dE@2 {mean['de2']:.3f}  "
                  f"cell-PSNR {mean['cell_psnr']:.3f}  SSIM@6 {mean['ssim6']:.4f}  through the net "
                  f"{100 * np.mean(through):.1f}%  same as every cell {100 * alike:.1f}%")


if __name__ == "__main__":
    main()
