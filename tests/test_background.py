"""The background choice: the grey that lets a photo's tones be drawn, and the lookups it judges by."""
import numpy as np

from pic2emoji.background import choose_background
from pic2emoji.colour import delta_e2000, srgb_to_lab
from pic2emoji.defaults import BACKGROUND
from pic2emoji.emoji_sets import load_emoji_set
from pic2emoji.photo import cut_patches
from pic2emoji.pixels import to_uint8
from pic2emoji.refine import Refiner
from pic2emoji.views import blocks_on, tile_layers, view_of

from conftest import GREY


def test_the_background_that_lets_a_photos_tones_be_drawn_is_chosen():
    """Three emoji: a small black dot on a clear tile (it shows its background), a white and a red
    square. Only the background can make a dark or a light flat photo."""
    from pic2emoji.views import view_of
    tiles = np.zeros((3, 36, 36, 4), np.uint8)
    tiles[0, 16:20, 16:20] = (0, 0, 0, 255)
    tiles[1, 3:33, 3:33], tiles[2, 3:33, 3:33] = (255, 255, 255, 255), (220, 30, 30, 255)
    layers = tile_layers(tiles)
    flat = lambda value: view_of(np.full((6 * 8, 36, 36, 3), value, np.float32))
    assert max(choose_background(flat(12), (6, 8), layers, GREY)) <= 32
    assert choose_background(flat(98), (6, 8), layers, GREY) == (96, 96, 96)
    assert choose_background(flat(110), (6, 8), layers, GREY) == (96, 96, 96)  # nearer by less than 20%, but the
    # dots' edges fade on it too (SSIM@6 0.84, not 0.76): better at no cost
    assert choose_background(flat(118), (6, 8), layers, GREY) == GREY  # 96 no nearer
    assert choose_background(flat(128), (6, 8), layers, GREY) == GREY  # a tie with the model's own: its own
    assert choose_background(flat(12), (1, 8), layers, GREY) == GREY  # one row: nothing to judge


def test_the_lookups_on_every_background_at_once_are_the_plain_lookups(converter):
    """choose_background's lookups, two products for every grey and a chunk of cells at a time, pick what
    views.Nearest picks of the tiles laid on each background: 300 cells, two chunks and a part."""
    from pic2emoji.background import CHUNK, lookups_on
    from pic2emoji.views import Nearest, blocks_on
    rng = np.random.default_rng(5)
    view = rng.uniform(0, 255, (300, 108)).astype(np.float32)
    layers, allowed = converter.layers(), rng.random(len(converter.model.classes)) < 0.7
    backgrounds = [(0, 0, 0), (96, 96, 96), GREY, (200, 40, 90)]
    assert 2 * CHUNK < len(view) < 3 * CHUNK
    for background, (blocks, picks) in zip(backgrounds, lookups_on(view, layers, backgrounds, allowed)):
        np.testing.assert_array_equal(blocks, blocks_on(layers, background))
        expected = Nearest.of_blocks(blocks_on(layers, background)).of_view(view, allowed)
        assert (picks == expected).mean() >= 0.99, background  # float rounding may part near-ties
        assert allowed[picks].all()


def test_the_brown_dog_is_brown_on_the_background_auto_chooses():
    """Issue 13's spaniels, whose fur (RGB about 100, 70, 50) no emoji on mid-grey comes near: all of noto,
    the lookup's choice refined, on mid-grey and on the background auto chooses."""
    emoji_set = load_emoji_set("noto")
    layers = tile_layers(emoji_set.tiles(range(len(emoji_set.files))))
    rng = np.random.default_rng(0)
    fur = np.array([100, 70, 50]) + rng.normal(0, 12, (8 * 36, 12 * 36, 1)) * np.array([1, 0.75, 0.55])
    patches = cut_patches(to_uint8(fur), (8, 12))
    chosen = choose_background(view_of(patches), (8, 12), layers, BACKGROUND)
    assert chosen != BACKGROUND
    seen = {}
    for background in (BACKGROUND, chosen):
        refiner = Refiner(blocks_on(layers, background))
        grid = refiner(patches, (8, 12), refiner.nearest(patches))
        seen[background] = refiner.means[grid].reshape(-1, 3).mean(0)  # the mosaic's colour from afar
    photo = srgb_to_lab(patches.reshape(-1, 3).mean(0))
    assert delta_e2000(srgb_to_lab(seen[BACKGROUND]), photo) > 8  # grey: a grey dog
    assert delta_e2000(srgb_to_lab(seen[chosen]), photo) < 3  # brown
    assert srgb_to_lab(seen[chosen])[2] > 10  # yellowish-red, as brown is: b* well above grey's 0


def test_the_tiles_are_judged_as_the_mosaic_draws_them(converter):
    """The layers come from the tiles as drawn at 36 px (what the metrics measure), not from the 72-px
    files: the views they give are the drawn mosaic's, to its rounding (the files' were up to 5 levels off)."""
    grid = np.arange(12).reshape(3, 4)
    for background in ((0, 0, 0), (32, 32, 32), GREY):
        drawn = view_of(cut_patches(np.asarray(converter.renderer.image(grid, 36, background=background)), (3, 4)))
        assert np.abs(blocks_on(converter.layers(), background)[grid.ravel()] - drawn).max() <= 0.5, background


def test_a_dark_photo_gets_the_grey_that_keeps_its_shapes_not_black():
    """The rocket at night (a fifth of the light, benchmarks/dark_photos.py): on black its colours are a
    little nearer, but its few dark emoji lose the shapes; a grey of 32 keeps them."""
    import sys
    from pathlib import Path
    from PIL import Image
    from pic2emoji.photo import on_grid
    from pic2emoji.pixels import resize_tiles
    from pic2emoji.quality import ssim
    from pic2emoji.views import Nearest, grey_views
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    from dark_photos import darkened
    emoji_set = load_emoji_set("noto")
    layers = tile_layers(resize_tiles(emoji_set.tiles(range(len(emoji_set.files))), 36))
    pixels, shape = on_grid(darkened(Image.open(root / "examples" / "photos" / "rocket.jpg"), "night"), GREY, 72, None)
    view = view_of(cut_patches(pixels, shape))
    chosen = choose_background(view, shape, layers, BACKGROUND)
    structure = lambda b: ssim(grey_views(view, shape), grey_views(blocks_on(layers, b)[Nearest.of_blocks(
        blocks_on(layers, b)).of_view(view)], shape))
    assert chosen == (32, 32, 32) and structure(chosen) > 2 * structure((0, 0, 0))
