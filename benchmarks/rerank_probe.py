"""A probe for issue 28, target 4 (the live camera keeps colours): the net's top-k classes re-ranked
by how near each one's mean colour, as drawn on the model's grey, is to the cell's (CIELAB distance),
against the net's arg-max (what the page shows today) and the CLI's default (refine).

    DEV=CL python benchmarks/rerank_probe.py [--model models/noto.safetensors]

Prints, for flat dark camera colours, the emoji chosen and its CIEDE2000 from the colour; for the
photos in examples/photos, dE@2 and SSIM@6 of each 72-column text-palette mosaic. Nothing here is
used by pic2emoji yet: it measures the lever before it is built into net.onnx and the Python path.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from tinygrad import Tensor, dtypes

from pic2emoji.colour import delta_e2000, srgb_to_lab
from pic2emoji.converter import Converter
from pic2emoji.modelfile import load_weights
from pic2emoji.options import Options
from pic2emoji.photo import cut_patches
from pic2emoji.quality import fidelity
from pic2emoji.views import view_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "photos"
FLAT = {"green": (0, 110, 0), "brown": (90, 55, 25), "blue": (20, 40, 120), "red": (130, 15, 15)}
KS = (1, 8, 32, 128)
BLENDS = (0.4, 1, 2, 4)  # weights of the colour distance against the log-probability


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/noto.safetensors")
    args = parser.parse_args()
    converter = Converter("noto", args.model)
    load_weights(converter.model)
    net, allowed = converter.model.net, converter.allowed("terminal")
    class_lab = srgb_to_lab(converter.views_on().reshape(len(allowed), 36, 3).mean(1).astype(np.float64))

    def picks(patches, k, weight=None):
        """top-k by the net, then the nearest mean colour; with `weight`, the best log-probability less
        `weight` × the colour distance (CIELAB, ΔE76) instead: a blend of the two."""
        logits = np.concatenate([net.classify(Tensor(patches[s:s + 1296], dtype=dtypes.uint8)).numpy()
                                 for s in range(0, len(patches), 1296)])
        logits[:, ~allowed] = -np.inf
        if k == 1:
            return logits.argmax(1)
        top = np.argpartition(-logits, k, axis=1)[:, :k]
        cell_lab = srgb_to_lab(view_of(patches).reshape(len(patches), 36, 3).mean(1).astype(np.float64))
        distance = np.sqrt(((class_lab[top] - cell_lab[:, None]) ** 2).sum(-1))
        if weight is None:
            return top[np.arange(len(top)), distance.argmin(1)]
        chosen = np.take_along_axis(logits, top, 1)
        log_p = chosen - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
        return top[np.arange(len(top)), (log_p - weight * distance).argmax(1)]

    for name, rgb in FLAT.items():
        patches = cut_patches(np.full((144, 144, 3), rgb, np.uint8), (4, 4))
        shown = []
        for k, weight in [(k, None) for k in KS] + [(32, w) for w in BLENDS]:
            c = picks(patches, k, weight)[0]
            drawn = np.asarray(converter.image(np.array([[c]]), 36)).reshape(-1, 3).mean(0)
            de = float(delta_e2000(srgb_to_lab(drawn[None]), srgb_to_lab(np.array(rgb, float)[None]))[0])
            shown.append(f"top-{k}{'' if weight is None else f' blend {weight}'} {converter.texts[c]} ΔE {de:.1f}")
        print(f"{name:6} {rgb}: " + " | ".join(shown))
    for photo in sorted(EXAMPLES.iterdir()):
        options = Options(cols=72, palette="terminal")
        pixels, shape, _ = converter.pixels(Image.open(photo).convert("RGB"), options)
        patches = cut_patches(pixels, shape)
        grids = {f"top-{k}": picks(patches, k).reshape(shape) for k in KS}
        grids.update({f"top-32 blend {w}": picks(patches, 32, w).reshape(shape) for w in BLENDS})
        grids["refine"] = converter.grid(pixels, options)
        scores = {name: fidelity(pixels, np.asarray(converter.image(g, 36)), shape) for name, g in grids.items()}
        print(photo.name + "\n" + "\n".join(f"  {n:18} dE@2 {s['de2']:6.2f}  SSIM@6 {s['ssim6']:.3f}" for n, s in scores.items()))


if __name__ == "__main__":
    main()
