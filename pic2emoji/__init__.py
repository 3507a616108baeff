"""pic2emoji: turn photos into emoji mosaics with a tiny convolutional net written in tinygrad."""
__version__ = "0.1.0"

from .emoji_sets import EmojiSet, load_emoji_set, near_duplicates  # noqa: E402
from .errors import ClusterError, EmojiSetError, ImageError, ModelError, OutputError, Pic2EmojiError  # noqa: E402
