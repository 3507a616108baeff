"""The 6×6 view of a cell and the nearest-colour lookup over it."""
import numpy as np

from pic2emoji.views import Nearest


def test_the_oracle_picks_the_tile_itself():
    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 256, (5, 36, 36, 3)).astype(np.uint8)
    assert list(Nearest(tiles)(tiles)) == [0, 1, 2, 3, 4]
