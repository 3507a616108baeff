"""pic2emoji: turn photos into emoji mosaics with a tiny convolutional net written in tinygrad.

    from pic2emoji import Converter, save_mosaic, convert_all

The converting part of the API (Converter, Options, save_mosaic, convert_all) is imported on first use,
so that `import pic2emoji.render` or `pic2emoji.emoji_sets` does not bring tinygrad with it.
"""
__version__ = "0.1.0"

from .emoji_sets import EmojiSet, load_emoji_set, near_duplicates  # noqa: E402
from .errors import ClusterError, EmojiSetError, ImageError, ModelError, OutputError, Pic2EmojiError  # noqa: E402

_LAZY = {"Converter": "converter", "Cells": "converter", "Options": "options", "save_mosaic": "convert",
         "measure": "convert", "convert_all": "batch", "BatchReport": "batch"}
__all__ = ["EmojiSet", "load_emoji_set", "near_duplicates", "ClusterError", "EmojiSetError", "ImageError",
           "ModelError", "OutputError", "Pic2EmojiError", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'pic2emoji' has no attribute {name!r}")
    from importlib import import_module
    return getattr(import_module(f".{_LAZY[name]}", __name__), name)
