"""The numbers every stage shares, written once. Each has a reason, given beside it."""
PATCH = 36                    # the net sees PATCH×PATCH RGB patches: one per grid cell
BACKGROUND = (128, 128, 128)  # behind the emoji at training and in mosaics: mid-grey gave the best mosaics
                              # of white, grey and black, and the most distinct emoji (docs/BENCHMARKS.md)
TILE_PX = 32                  # pixels per emoji in PNG mosaics
COLS = 72                     # grid columns when none are asked for
