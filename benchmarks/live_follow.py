"""How the live camera's grid holds up when the net judges only a share of the moving cells a frame
(motion.live_frame, what page/worker.js does): the page's own graphs (cells.onnx, net.onnx) in onnxruntime,
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
from pic2emoji.modelfile import model_path
from pic2emoji.live import Band, TouchUp, colour_table, live_frame
from pic2emoji.pixels import nearest_pattern
from pic2emoji.quality import estimate
from pic2emoji.web import CHANGE, web_files

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
    import onnxruntime as ort
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
    one = ort.SessionOptions()
    one.intra_op_num_threads = 1
    cells_net, net = (ort.InferenceSession(files[name], one) for name in ("cells.onnx", "net.onnx"))
    class_views = converter.views_on()
    k, rows, cols = 8, 54, 72
    up = (nearest_pattern(k)[:, None] == np.arange(k)).astype(np.float32)
    shares = [float(s) for s in args.shares.split(",")]
    refiner = converter.refiner()
    touch = TouchUp(refiner, colour_table(refiner.means, converter.allowed("terminal")))
    runs = [("the net on every moved cell (before)", 1e9, None), *((f"share {s:.3f}", s, None) for s in shares),
            *((f"share {s:.3f}, colour", s, touch) for s in shares)]
    print(f"model {converter.model.path}, pan {args.pan} px a frame, {args.frames} frames, {args.bands} bands")
    for photo in args.photos:
        results = {}
        for label, share, touched in runs:
            bands = [Band.new(0, 108, 8) for _ in range(args.bands)]
            scores, through, grids = [], [], []
            for f, frame in enumerate(frames(photo, args.frames, args.pan)):
                grid, done = [], 0
                for b, band in enumerate(bands):
                    top, bottom = b * rows // args.bands, (b + 1) * rows // args.bands
                    cut, view = cells_net.run(["cells", "view"], {"frame": frame[None, top * k:bottom * k], "up": up})
                    if len(band.classes) != len(view):
                        bands[b] = band = Band.new(len(view), view.shape[1], 8)

                    def judge(which, previous, cut=cut, view=view):
                        out = net.run(["class", "top"], {"cells": cut[which], "up": up, "view": view[which],
                                                         "previous": previous.astype(np.int32)})
                        return out[0], out[1]
                    done += live_frame(band, view, cols, judge, class_views, CHANGE, share, touched)
                    grid.append(band.classes.copy())
                grid = np.concatenate(grid)
                _, view = cells_net.run(["cells", "view"], {"frame": frame[None], "up": up})
                if f:
                    scores.append(estimate(view, class_views[grid], (rows, cols)))
                    through.append(done / len(grid))
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
