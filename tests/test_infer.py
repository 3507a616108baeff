"""Photos to grids: every kind of input file, its grid shape, the net's picks, damaged and fuzzed files."""
import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image, ImageFile

from pic2emoji.errors import ImageError
from pic2emoji.infer import cut_patches, read_photo

from conftest import GREY, halves, jpeg_bytes, needs, png_bytes, solid


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


def test_red_photo_gives_red_emoji_and_blue_gives_blue(converter, tmp_path):
    grid = converter.grid(halves(tmp_path / "rb.png", (230, 30, 30), (30, 60, 230)), cols=4)
    assert grid.shape == (4, 4)
    assert {converter.texts[c] for c in grid[:2].ravel()} <= {"🟥", "🍅"}
    assert {converter.texts[c] for c in grid[2:].ravel()} <= {"🟦", "🌊", "💧"}


def test_terminal_palette_masks_logits(converter, tmp_path):
    allowed = converter.allowed("terminal")
    assert allowed.any()
    grid = converter.grid(solid(tmp_path / "w.png", (250, 250, 250)), cols=3, palette="terminal")
    assert allowed[grid].all()


def test_grid_of_a_pil_image_matches_the_file(converter, tmp_path):
    path = halves(tmp_path / "h.png", (230, 30, 30), (30, 60, 230))
    with Image.open(path) as image:
        np.testing.assert_array_equal(converter.grid(image.copy(), cols=4), converter.grid(path, cols=4))


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


def test_steady_frames_do_not_flicker_and_a_real_change_shows_at_once(converter):
    rng = np.random.default_rng(0)
    # a picture of near-ties for the tiny set: a smooth blend from red to blue, plus camera noise
    blend = np.linspace(0, 1, 288)[None, :, None]
    base = (1 - blend) * np.array([230, 30, 30]) + blend * np.array([30, 60, 230]) + np.zeros((216, 1, 1))
    noisy = lambda: Image.fromarray(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    plain, steady, previous, last = [], [], None, None
    for _ in range(6):
        frame = noisy()
        grid = converter.grid(frame, cols=16, method="net")
        held = converter.cells(frame, cols=16, method="net", previous=previous).grid
        if last is not None:
            plain.append((grid != last).mean())
            steady.append((held != previous).mean())
        last, previous = grid, held
    assert np.mean(plain) > 0.02 and np.mean(steady) <= 0.5 * np.mean(plain)  # noise alone flips over 2% a frame
    green = Image.new("RGB", (288, 216), (30, 200, 60))
    changed = converter.cells(green, cols=16, method="net", previous=previous).grid
    np.testing.assert_array_equal(changed, converter.grid(green, cols=16, method="net"))  # the new scene, whole, in one frame


def test_every_method_keeps_to_the_palette_and_repeats_itself(converter, tmp_path):
    path = halves(tmp_path / "ry.png", (235, 125, 35), (120, 90, 60), (120, 96))
    allowed = converter.allowed("terminal")
    for method in ("refine", "net", "lookup"):
        grids = [converter.grid(path, cols=6, palette="terminal", method=method) for _ in range(2)]
        np.testing.assert_array_equal(*grids)
        assert grids[0].shape == (5, 6) and allowed[grids[0]].all()


def test_measure_scores_the_mosaic_it_makes(converter, tmp_path):
    needs("skimage")
    from pic2emoji.convert import Options, measure
    path = halves(tmp_path / "rb.png", (230, 30, 30), (30, 60, 230))
    scores = measure(converter, path, Options(cols=4))
    assert set(scores) >= {"de2", "de1", "cell_psnr", "ssim6", "distinct"} and scores["method"] == "refine"
    assert 0 <= scores["de2"] < 30 and scores["cell_psnr"] > 10


def dark_scene(size=(144, 108)) -> Image.Image:
    """A night scene: dark, with a dim red and a dim blue patch; the tiny set's darkest emoji (⬛) is only
    this dark on a dark background."""
    pixels = np.full((size[1], size[0], 3), 48, np.uint8)
    pixels[20:50, 20:60], pixels[60:90, 80:130] = (90, 30, 30), (30, 36, 90)
    return Image.fromarray(pixels)


def test_the_tiles_on_any_background_are_the_tiles_laid_on_it(converter):
    from pic2emoji.data import oracle_view
    from pic2emoji.pixels import block_means, composite
    tiles = converter.emoji_set.tiles(converter.tile_of)
    for background in ((0, 0, 0), GREY, (200, 30, 90)):
        laid = oracle_view(block_means(composite(tiles, background), tiles.shape[1] // 36))
        np.testing.assert_allclose(converter.class_blocks(background), laid, atol=1e-3)


def test_the_background_that_lets_a_photos_tones_be_drawn_is_chosen():
    """Three emoji: a small black dot on a clear tile (it shows its background), a white and a red
    square. Only the background can make a dark or a light flat photo."""
    from pic2emoji.data import oracle_view
    from pic2emoji.infer import choose_background, tile_layers
    tiles = np.zeros((3, 36, 36, 4), np.uint8)
    tiles[0, 16:20, 16:20] = (0, 0, 0, 255)
    tiles[1, 3:33, 3:33], tiles[2, 3:33, 3:33] = (255, 255, 255, 255), (220, 30, 30, 255)
    layers = tile_layers(tiles)
    flat = lambda value: oracle_view(np.full((6 * 8, 36, 36, 3), value, np.float32))
    assert max(choose_background(flat(12), (6, 8), layers, GREY)) <= 32
    assert choose_background(flat(98), (6, 8), layers, GREY) == (96, 96, 96)
    assert choose_background(flat(110), (6, 8), layers, GREY) == GREY  # 96 is nearer, but not by 20%
    assert choose_background(flat(128), (6, 8), layers, GREY) == GREY  # a tie with the model's own: its own
    assert choose_background(flat(12), (1, 8), layers, GREY) == GREY  # one row: nothing to judge


def test_the_lookups_on_every_background_at_once_are_the_plain_lookups(converter):
    """choose_background's lookups, two products for every grey and a chunk of cells at a time, pick what
    data.Nearest picks of the tiles laid on each background: 300 cells, two chunks and a part."""
    from pic2emoji.data import Nearest
    from pic2emoji.infer import CHUNK, blocks_on, lookups_on
    rng = np.random.default_rng(5)
    view = rng.uniform(0, 255, (300, 108)).astype(np.float32)
    layers, allowed = converter.class_layers(), rng.random(len(converter.model.classes)) < 0.7
    backgrounds = [(0, 0, 0), (96, 96, 96), GREY, (200, 40, 90)]
    assert 2 * CHUNK < len(view) < 3 * CHUNK
    for background, (blocks, picks) in zip(backgrounds, lookups_on(view, layers, backgrounds, allowed)):
        np.testing.assert_array_equal(blocks, blocks_on(layers, background))
        expected = Nearest.of_blocks(blocks_on(layers, background)).of_view(view, allowed)
        assert (picks == expected).mean() >= 0.99, background  # float rounding may part near-ties
        assert allowed[picks].all()


def test_auto_chooses_for_each_photo_and_nothing_asked_keeps_the_models(converter, tmp_path):
    from pic2emoji.infer import AUTO, choose_background
    from pic2emoji.data import oracle_view
    dark = converter.cells(dark_scene(), cols=8, background=AUTO)
    pixels, shape = converter.pixels(dark_scene(), cols=8)
    expected = choose_background(oracle_view(cut_patches(pixels, shape)), shape, converter.class_layers(), GREY,
                                 converter.allowed("all"))
    assert dark.background == expected != GREY
    np.testing.assert_array_equal(dark.grid, converter.grid(dark_scene(), cols=8, background=expected))
    assert converter.cells(dark_scene(), cols=8).background == GREY  # asked for nothing: the model's
    again = converter.cells(dark_scene(), cols=8, background=AUTO)
    np.testing.assert_array_equal(dark.grid, again.grid)  # the same photo, the same choice


def test_a_dark_photo_is_drawn_nearer_its_colours_on_its_own_background(converter, tmp_path):
    needs("skimage")
    from pic2emoji.convert import Options, measure
    path = tmp_path / "night.png"
    dark_scene().save(path)
    grey, auto = (measure(converter, path, Options(cols=8, background=b)) for b in (GREY, None))  # None: auto, for pictures
    assert grey["background"] == "#808080" and auto["background"] != "#808080"
    assert auto["de2"] < 0.9 * grey["de2"], (grey, auto)


def test_a_background_may_be_given_as_a_name_a_list_or_an_array(converter):
    from pic2emoji.convert import Options
    from pic2emoji.errors import OutputError
    grids = [converter.cells(dark_scene(), cols=8, background=b) for b in ("black", [0, 0, 0], np.zeros(3, np.uint8))]
    assert all(c.background == (0, 0, 0) for c in grids)
    np.testing.assert_array_equal(grids[0].grid, grids[2].grid)
    assert Options(background=np.array([10, 20, 30])).background == (10, 20, 30)
    assert Options(background="AUTO").background == "auto" and Options("txt", background="white").background == (255, 255, 255)
    with pytest.raises(OutputError, match="background"):
        Options(background=(300, 0, 0))
