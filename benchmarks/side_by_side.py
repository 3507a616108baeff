"""Side-by-side pictures for docs/QUALITY.md: photo | 6×6 lookup on grey | the default (refine, on the
background `auto` chooses), 72 columns.

    python benchmarks/side_by_side.py            # writes docs/quality/<photo>.jpg
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import fidelity_photos  # noqa: E402  the same photos as the fidelity table

from pic2emoji.converter import Converter  # noqa: E402
from pic2emoji.options import AUTO, Options  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "quality"
TILE = 8  # px per emoji: three 576-px panels


def main(names=("chelsea", "flower", "rocket", "hubble"), cols=72):
    converter, photos = Converter("noto"), fidelity_photos()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        pixels, shape, _ = converter.pixels(photos[name], Options(cols=cols))
        size = (shape[1] * TILE, shape[0] * TILE)
        panels = [Image.fromarray(pixels).resize(size, Image.LANCZOS)]
        grey, chosen = converter.model.background, converter.pixels(pixels, Options(background=AUTO))[2]
        panels += [converter.image(converter.grid(pixels, method=method, background=behind), TILE, behind).convert("RGB")
                   for method, behind in (("lookup", grey), ("refine", chosen))]
        sheet = Image.new("RGB", (3 * size[0] + 16, size[1]), "white")
        for i, panel in enumerate(panels):
            sheet.paste(panel, (i * (size[0] + 8), 0))
        sheet.save(OUT / f"{name}.jpg", quality=88)
        print(OUT / f"{name}.jpg", np.round(sheet.size))


if __name__ == "__main__":
    main()
