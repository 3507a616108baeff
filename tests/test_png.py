"""png.py: the bands make one valid PNG, the same pixels Pillow reads back, whatever the split."""
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from pic2emoji.png import png_bytes


@pytest.mark.parametrize("shape,threads", [((1, 1), 1), ((7, 5), 4), ((130, 97), 2), ((300, 64), 3), ((256, 40), 8)])
def test_pillow_reads_back_the_same_pixels(shape, threads):
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    rgb[: shape[0] // 2] = rgb[0, 0]  # flat rows too, which deflate to little
    data = png_bytes(rgb, threads=threads)
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # Pillow checks every chunk's CRC as it reads
        assert image.mode == "RGB" and image.size == shape[::-1]
        assert np.array_equal(np.asarray(image), rgb)


def test_the_stream_is_one_zlib_stream_with_its_checksum():
    rgb = np.tile(np.arange(200, dtype=np.uint8)[:, None, None], (1, 300, 3))
    data = png_bytes(rgb, threads=3)
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8:start - 4], "big")
    raw = zlib.decompress(data[start:start + length])  # checks the adler32 of the whole
    assert len(raw) == 200 * (1 + 300 * 3) and raw[0] == 0


def test_refuses_what_is_not_rgb_bytes():
    with pytest.raises(ValueError, match="RGB"):
        png_bytes(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        png_bytes(np.zeros((4, 4, 3), np.float32))
