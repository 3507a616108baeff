"""The numbers every stage shares, written once. Each has a reason, given beside it."""
PATCH = 36                    # the net sees PATCH×PATCH RGB patches: one per grid cell
TILE_SIZE = 2 * PATCH         # pixels; tiles of every set are brought to this size when loaded (two patches
                              # wide, so a tile's 6×6 view is exact block means at any size we draw)
VIEW = 6                      # a cell's view: the mean colour of VIEW×VIEW blocks (views.py), what the lookup,
BLOCKS = VIEW * VIEW          # refine, the steady rule, the background choice and the page compare: 36 blocks,
VIEW_SIZE = BLOCKS * 3        # 108 numbers a cell (RGB)
BACKGROUND = (128, 128, 128)  # behind the emoji at training and in mosaics: mid-grey gave the best mosaics
                              # of white, grey and black, and the most distinct emoji (docs/BENCHMARKS.md)
TILE_PX = 32                  # pixels per emoji in PNG mosaics
COLS = 72                     # grid columns when none are asked for
LIVE_ROWS, LIVE_COLS = 54, 72  # the live camera's grid: a 640×480 camera at 8 px a cell
MAX_LIVE_CELLS = 200          # rows or columns the live camera draws at most (serve, export-web, the page)
# Caps that keep memory bounded whatever the photo's shape or the options (a 1-pixel-wide photo at 72
# columns would otherwise ask for millions of rows): converting takes ~15 KB a cell (the photo at 36 px a
# cell, its patches, the mosaic), so 50,000 cells stay under ~1 GB; a mosaic image has at most 120 MP.
MAX_CELLS = 50_000
MAX_MOSAIC_PIXELS = 120_000_000
# An animation's frames are all converted before it is written: at most MAX_FRAMES of them, and at most
# MAX_FRAME_CELLS cells in all (about ten minutes of the net on two cores), refused up front beyond that.
MAX_FRAMES = 1_000
MAX_FRAME_CELLS = 4_000_000
