"""Photos on the grid: every kind of input file, its grid shape, damaged and fuzzed files."""
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image, ImageFile

from pic2emoji.errors import ImageError
from pic2emoji.photo import cut_patches, on_grid, read_photo, view_grid
from pic2emoji.views import view_of

from conftest import GREY, jpeg_bytes, png_bytes, solid


@pytest.mark.parametrize("size, cols, rows, expected", [
    ((400, 300), 72, None, (54, 72)),
    ((300, 400), 72, None, (96, 72)),
    ((400, 300), None, 30, (30, 40)),
    ((10000, 3), 72, None, (1, 72)),
    ((10000, 3), None, None, (1, 72)),
    ((1, 1), 4, None, (4, 4)),
    ((1, 1), None, None, (1, 1)),
    ((20, 10), None, None, (10, 20)),
    ((20, 12), None, None, (12, 20)),
    ((640, 480), None, None, (54, 72)),
])


def test_grid_keeps_the_aspect_ratio_from_tiny_to_extreme_photos(tmp_path, size, cols, rows, expected):
    photo, shape = read_photo(solid(tmp_path / "p.png", (200, 0, 0), size=size), GREY, cols, rows)
    assert shape == expected and photo.shape == (expected[0] * 36, expected[1] * 36, 3)


def test_patches_are_cut_row_by_row():
    photo = np.zeros((72, 108, 3), np.uint8)
    photo[36:, 72:] = 255  # bottom-right cell of a 2×3 grid
    patches = cut_patches(photo, (2, 3))
    assert patches.shape == (6, 36, 36, 3)
    assert [int(p.mean()) for p in patches] == [0, 0, 0, 0, 0, 255]


def _modes(tmp_path):
    """One file per input kind a user may have, each a red picture (or red where opaque)."""
    red = Image.new("RGB", (90, 60), (220, 20, 20))
    files = {}
    for ext, fmt in [("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"), ("tif", "TIFF"), ("gif", "GIF")]:
        files[ext] = tmp_path / f"red.{ext}"
        red.save(files[ext], fmt)
    files["cmyk"] = tmp_path / "cmyk.jpg"
    red.convert("CMYK").save(files["cmyk"], "JPEG")
    files["L"] = tmp_path / "grey.png"
    Image.new("L", (90, 60), 200).save(files["L"])
    files["LA"] = tmp_path / "la.png"
    Image.new("LA", (90, 60), (200, 255)).save(files["LA"])
    files["P"] = tmp_path / "palette.png"
    red.convert("P").save(files["P"])
    files["I16"] = tmp_path / "sixteen.png"
    Image.fromarray(np.full((60, 90), 50000, np.uint16)).save(files["I16"])
    return files


def test_every_input_kind_reads_as_expected(tmp_path):
    files = _modes(tmp_path)
    for key, path in files.items():
        photo, shape = read_photo(path, GREY, cols=3)
        assert shape == (2, 3) and photo.shape == (72, 108, 3) and photo.dtype == np.uint8, key
        mean = photo.reshape(-1, 3).mean(0)
        if key in ("L", "LA"):
            assert np.allclose(mean, 200, atol=2), key
        elif key == "I16":
            assert np.allclose(mean, 50000 / 257, atol=2), key  # scaled, not clipped to white
        else:
            assert mean[0] > 180 and mean[1] < 60 and mean[2] < 60, (key, mean)


def test_transparent_areas_take_the_background(tmp_path):
    rgba = Image.new("RGBA", (72, 36), (0, 0, 255, 255))
    rgba.paste((0, 0, 0, 0), (36, 0, 72, 36))
    rgba.save(tmp_path / "half.png")
    p = Image.new("P", (72, 36), 0)
    p.putpalette([0, 0, 255, 9, 9, 9])
    p.paste(1, (36, 0, 72, 36))
    p.info["transparency"] = 1
    p.save(tmp_path / "ptrans.png", transparency=1)
    for name in ("half.png", "ptrans.png"):
        photo, _ = read_photo(tmp_path / name, (10, 200, 30), cols=2)
        assert tuple(photo[18, 10]) == (0, 0, 255) and tuple(photo[18, 60]) == (10, 200, 30), name


def test_a_frame_read_at_6_px_a_cell_has_the_views_of_its_36_px_picture_within_a_level_or_two():
    """view_grid (a film's frames) against view_of(on_grid(...)) (a photo's): the same cells, ~1 level
    apart (RMS) on a real photo; transparent parts on the background; an array taken as it is."""
    photo = Image.open(Path(__file__).parent.parent / "examples" / "photos" / "chelsea.png").convert("RGB")
    view, shape = view_grid(photo, GREY, cols=40)
    pixels, same = on_grid(photo, GREY, cols=40)
    assert shape == same and view.shape == (shape[0] * shape[1], 108) and view.dtype == np.float32
    assert np.sqrt(((view - view_of(cut_patches(pixels, shape))) ** 2).mean()) < 2
    half = Image.new("RGBA", (72, 36), (0, 0, 255, 255))
    half.paste((0, 0, 0, 0), (36, 0, 72, 36))
    view, _ = view_grid(half, (10, 200, 30), cols=2)
    cells = view.reshape(2, 6, 6, 3)  # Lanczos rings a little at the edge between them: their middles
    assert (np.abs(cells[:, 1:5, 1:4] - np.array([(0, 0, 255), (10, 200, 30)])[:, None, None]) <= 1).all()
    np.testing.assert_array_equal(view_grid(pixels, GREY)[0], view_of(cut_patches(pixels, shape)))


def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((80, 40, 3), np.uint8)  # tall: red on top, blue below
    upright[:40] = (255, 0, 0)
    upright[40:] = (0, 0, 255)
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # stored lying down, 80×40
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    stored.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    photo, shape = read_photo(tmp_path / "rotated.jpg", GREY, cols=1)
    assert shape == (2, 1)
    assert photo[10, 18, 0] > 200 and photo[60, 18, 2] > 200


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (36, 36), c) for c in [(255, 0, 0), (0, 255, 0)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    photo, _ = read_photo(tmp_path / "anim.gif", GREY, cols=1)
    assert photo[..., 0].mean() > 200 and photo[..., 1].mean() < 50


def test_multipage_tiff_uses_the_first_page(tmp_path):
    pages = [Image.new("RGB", (36, 36), c) for c in [(0, 0, 255), (255, 0, 0)]]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    photo, _ = read_photo(tmp_path / "pages.tif", GREY, cols=1)
    assert photo[..., 2].mean() > 200 and photo[..., 0].mean() < 50


def bomb_png(path, side=100_000):
    """A valid PNG header claiming side×side pixels, with almost no data behind it."""
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")  # 10^10 of them would take minutes and 30 GB
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match="decompression bomb"):
        read_photo(bomb_png(tmp_path / "bomb.png"), GREY)


def test_missing_photo(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_photo(tmp_path / "nope.jpg", GREY)


SEEDS = [png_bytes(), jpeg_bytes()]


for fmt in ("GIF", "BMP", "WEBP", "TIFF"):
    _buffer = io.BytesIO()
    Image.new("RGBA" if fmt == "WEBP" else "RGB", (24, 16), (200, 10, 10)).save(_buffer, fmt)
    SEEDS.append(_buffer.getvalue())


FUZZ_EXAMPLES = int(os.environ.get("PIC2EMOJI_FUZZ_EXAMPLES", "150"))


@st.composite
def mutated_images(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 64))]
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(mutated_images(), st.binary(max_size=256)))
def test_fuzzed_bytes_give_a_photo_or_our_error(tmp_path, data):
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        photo, shape = read_photo(path, GREY, cols=4)
    except ImageError as e:
        assert str(e).startswith(str(path))
    else:
        assert photo.shape == (shape[0] * 36, shape[1] * 36, 3) and photo.dtype == np.uint8


def test_an_animation_beyond_the_caps_is_refused_from_its_header(tmp_path, monkeypatch):
    import pic2emoji.photo as photo
    frames = [Image.new("RGB", (40, 30), (i * 40, 0, 0)) for i in range(6)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50)
    read = []
    monkeypatch.setattr(photo, "to_rgb_or_rgba", lambda frame: read.append(frame) or frame)
    monkeypatch.setattr(photo, "MAX_FRAMES", 5)
    with pytest.raises(ImageError, match=r"a\.gif: an animation of 6 frames, more than the 5 pic2emoji converts"):
        photo.animation(tmp_path / "a.gif")
    monkeypatch.setattr(photo, "MAX_FRAMES", 6)
    monkeypatch.setattr(photo, "MAX_FRAME_CELLS", 6 * 12 - 1)  # 6 frames of 3×4 cells at --cols 4
    with pytest.raises(ImageError, match=r"6 frames of 3×4 cells are 72 cells in all, more than the 71"):
        photo.animation(tmp_path / "a.gif", cols=4)
    assert read == []  # refused before a frame was decoded
    assert len(photo.animation(tmp_path / "a.gif", cols=3)[0]) == 6 and len(read) == 6
