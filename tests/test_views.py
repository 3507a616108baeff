"""The 6×6 view of a cell and the nearest-colour lookup over it."""
import numpy as np

from pic2emoji.views import Nearest


def test_the_oracle_picks_the_tile_itself():
    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 256, (5, 36, 36, 3)).astype(np.uint8)
    assert list(Nearest(tiles)(tiles)) == [0, 1, 2, 3, 4]


def test_banded_gives_what_the_function_gives_on_all_the_rows():
    from pic2emoji.views import banded
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(1001, 7)).astype(np.float32), rng.integers(0, 9, 1001)
    whole = lambda a, b: (a.sum(1) * b, a.argmax(1))
    for bands in (1, 2, 3):
        for rows in (0, 10, 300, 1001):
            got, want = banded(whole, a[:rows], b[:rows], bands=bands), whole(a[:rows], b[:rows])
            assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert np.array_equal(banded(lambda a: a.max(1), a), a.max(1))  # one array back, not a tuple


def test_the_lookup_keeps_to_the_palette_in_bands():
    rng = np.random.default_rng(2)
    lookup = Nearest.of_blocks(rng.uniform(0, 255, (40, 108)))
    view = rng.uniform(0, 255, (700, 108)).astype(np.float32)
    allowed = np.arange(40) % 3 == 0
    scores = view @ lookup.blocks.T - lookup.half_norms
    assert np.array_equal(lookup.of_view(view), scores.argmax(1))
    assert np.array_equal(lookup.of_view(view, allowed), np.flatnonzero(allowed)[scores[:, allowed].argmax(1)])
