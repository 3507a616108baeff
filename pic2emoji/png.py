"""A still RGB picture as PNG bytes, deflated in bands on every core: zlib only.

A mosaic is a few megapixels of flat emoji tiles, and Pillow spends most of its PNG time choosing a filter
for every row (none of its options turns that off for RGB); unfiltered rows of tiles deflate as small
(within ~3% here). So the rows go unfiltered, cut into one band per thread, each band deflated on its own
thread (zlib lets go of the GIL) and the bands joined into one zlib stream: every band but the last ends
on a byte boundary with a sync flush, so their deflate blocks follow one another as one stream would
(the way pigz does it). docs/BENCHMARKS.md ("One photo") measures it against Pillow's encoder.
"""
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAND_ROWS = 64  # rows no band has fewer of: a small picture is one band, deflated here


def png_bytes(rgb: np.ndarray, level: int = 1, threads: int | None = None) -> bytes:
    """(height, width, 3) uint8 -> the bytes of an 8-bit RGB PNG, zlib `level`, in bands on `threads`
    threads (None: one per core, at most 4)."""
    height, width, channels = rgb.shape
    if channels != 3 or rgb.dtype != np.uint8 or not height or not width:
        raise ValueError(f"an RGB picture of uint8 is needed, not {rgb.shape} {rgb.dtype}")
    rows = np.zeros((height, 1 + width * 3), np.uint8)  # each row: filter type 0 (none), then its pixels
    rows[:, 1:] = rgb.reshape(height, width * 3)
    threads = max(1, min(threads or min(os.cpu_count() or 1, 4), height // BAND_ROWS))
    bands = [band.tobytes() for band in np.array_split(rows, threads)]
    with ThreadPoolExecutor(threads) as pool:
        deflated = list(pool.map(lambda i: _deflate(bands[i], level, i == len(bands) - 1), range(len(bands))))
    adler = 1
    for band in bands:
        adler = zlib.adler32(band, adler)
    stream = bytes([0x78, 0x01]) + b"".join(deflated) + struct.pack(">I", adler)  # zlib's header, fastest-level flag
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, deflate, filter method 0, no interlace
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream) + _chunk(b"IEND", b"")


def _deflate(data: bytes, level: int, last: bool) -> bytes:
    """One band as raw deflate blocks: the last band ends the stream, any other ends on a byte boundary."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
