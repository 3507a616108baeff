"""The emoji camera as a static site: the page, its worker, the net as ONNX, the emoji and
onnxruntime-web, in one folder that any static host serves (`pic2emoji export-web`), and that
`pic2emoji serve` serves itself.

    index.html, worker.js   the page (page/ beside this file) and the Web Worker that runs the net
    config.json             grid, emoji text of every class, the atlas's layout, the steady settings
    cells.onnx, net.onnx    onnx_export.py's graphs for this model and palette
    atlas.png               every class the palette allows, as PNG mosaics draw it: Save PNG draws from it,
                            and the grid the emoji that have no character (a custom set's, `pictures`)
    ort/                    onnxruntime-web (page/ort/VERSION says which, and where it came from)
"""
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .defaults import PATCH, TILE_PX, VIEW_SIZE
from .errors import OutputError
from .files import umask, write_bytes
from .formats import hex_colour
from .modelfile import load_weights

PAGE = Path(__file__).with_name("page")
PAGE_FILES = ("index.html", "worker.js")
CAMERA = (640, 480)            # what the page asks the camera for
COL_CHOICES = (24, 36, 48, 72, 96, 120)  # the page's column menu (and the configured grid's)
CHANGE = 8.0                   # a cell goes through the net again once its view moved this much (RMS levels)
ATLAS_COLUMNS = 64


def page_config(converter, rows: int, cols: int, palette: str = "terminal", mode: str = "browser") -> dict:
    """What the page reads from config.json. In server mode there are no models and no atlas: the
    server classifies frames and draws the PNG. The page types no sizes of its own: the net sees a
    cell as `patch`×`patch` px, and a cell's view (what the change test compares) is `view_size` numbers."""
    model = converter.model
    return {"mode": mode, "rows": rows, "cols": cols, "camera": CAMERA, "col_choices": COL_CHOICES,
            "patch": PATCH, "view_size": VIEW_SIZE, "palette": palette, "emoji": converter.texts, "change": CHANGE,
            "background": hex_colour(model.background),  # behind the grid: what the emoji were chosen for
            "model": {"file": Path(model.path).name, "arch": model.arch, "emoji_set": model.emoji_set,
                      "accuracy": model.accuracy}}


def web_files(converter, rows: int, cols: int, palette: str = "terminal") -> dict:
    """Every file of the static site, name -> bytes (or the Path of a shipped file to copy)."""
    from .onnx_export import cells_graph, net_graph
    model, allowed = converter.model, converter.allowed(palette)
    if model.net is None:
        load_weights(model)
    classes = np.flatnonzero(allowed)
    slots = np.full(len(allowed), -1)
    slots[classes] = np.arange(len(classes))
    pictures = [int(c) for c in classes if converter.renderer.chars[c] is None]  # a custom set's: no character
    config = {**page_config(converter, rows, cols, palette), "models": {"cells": "cells.onnx", "net": "net.onnx"},
              "atlas": {"file": "atlas.png", "tile": TILE_PX, "columns": ATLAS_COLUMNS, "slots": slots.tolist(),
                        "pictures": pictures}}
    files = {name: PAGE / name for name in PAGE_FILES}
    files.update({f"ort/{p.name}": p for p in sorted((PAGE / "ort").iterdir())})
    files["config.json"] = json.dumps(config, ensure_ascii=False).encode()
    files["cells.onnx"] = cells_graph().SerializeToString()
    files["net.onnx"] = net_graph(model, converter.views_on(), allowed).SerializeToString()
    files["atlas.png"] = _atlas(converter, classes)
    return files


def _atlas(converter, classes: np.ndarray) -> bytes:
    """The classes' tiles ATLAS_COLUMNS to a row, as the renderer draws them (on the background)."""
    rows = -(-len(classes) // ATLAS_COLUMNS)
    grid = np.full(rows * ATLAS_COLUMNS, classes[0])
    grid[:len(classes)] = classes
    out = io.BytesIO()
    converter.image(grid.reshape(rows, ATLAS_COLUMNS), TILE_PX).save(out, format="PNG", compress_level=9)
    return out.getvalue()


def export_web(converter, out_dir, rows: int, cols: int, palette: str = "terminal", overwrite: bool = False) -> list[Path]:
    """Write the static site into OUT_DIR: a new folder made whole and then moved into place, or, with
    overwrite, over an existing folder's files of the same names (others are left alone). Returns the
    files written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: is a file; give a folder for the site")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"{out_dir}: already holds files; pass --overwrite to write the site over them, "
                          "or give a new folder")
    files = web_files(converter, rows, cols, palette)
    if out_dir.is_dir():
        for name, content in files.items():
            write_bytes(out_dir / name, file_bytes(content))
        return [out_dir / name for name in files]
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot write here ({e.strerror}); choose another place") from None
    try:
        for name, content in files.items():
            (temp / name).parent.mkdir(exist_ok=True)
            shutil.copyfile(content, temp / name) if isinstance(content, Path) else (temp / name).write_bytes(content)
        os.chmod(temp, 0o777 & ~umask())
        os.rename(temp, out_dir)  # fails if a folder appeared there meanwhile: nothing is replaced
    except OSError as e:
        raise OutputError(f"{out_dir}: could not be written ({e.strerror}); nothing was left there") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return [out_dir / name for name in files]


def file_bytes(content) -> bytes:
    """A web_files value as bytes: made here, or read from the shipped file it names."""
    return content.read_bytes() if isinstance(content, Path) else content
