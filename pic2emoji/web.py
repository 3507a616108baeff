"""The emoji camera as a static site: the page, its worker, the net as ONNX, the emoji and
onnxruntime-web, in one folder that any static host serves (`pic2emoji export-web`), and that
`pic2emoji serve` serves itself.

    index.html, worker.js   the page (page/ beside this file), the Web Worker that runs the net, and
    touch.js, settle.js     its colour touch-up, and refine's mosaic once the camera is still (live.py)
    config.json             grid, emoji text of every class, the atlas's layout, the steady settings and
                            how many cells the net judges a frame (`share`)
    cells.onnx, net.onnx    onnx_export.py's graphs for this model and palette
    views.bin               every class's view (float32, classes × 108): what the page's cells that skip
                            the net are compared with, and its colour touch-up's terms (live.py)
    colours.bin             live.colour_table (int32, 32³): the emoji nearest each step of the colour cube
    atlas.png               every class the palette allows, as PNG mosaics draw it: the grid on screen and
                            Save PNG are drawn from it, in the set's own style whatever fonts the viewer has
    ort/                    onnxruntime-web (page/ort/VERSION says which, and where it came from)
"""
import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .defaults import PATCH, TILE_PX, VIEW_SIZE
from .errors import OutputError, first_line
from .files import umask
from .formats import hex_colour
from .live import LEVELS, LIVE_SHARE, LIVE_STRENGTH, colour_table, settle_config
from .modelfile import load_weights
from .views import STEADY, STEADY_NOISE

PAGE = Path(__file__).with_name("page")
PAGE_FILES = ("index.html", "worker.js", "touch.js", "settle.js")
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
            "share": LIVE_SHARE, "steady": {"margin": STEADY, "noise": STEADY_NOISE}, "touch": touch_config(converter.refiner()),
            "settle": settle_config(converter.refiner()),
            "background": hex_colour(model.background),  # behind the grid: what the emoji were chosen for
            "model": {"file": Path(model.path).name, "arch": model.arch, "emoji_set": model.emoji_set,
                      "accuracy": model.accuracy}}


def touch_config(refiner) -> dict:
    """live.TouchUp's settings, for the worker that does the same: its strength, the refiner's edge and
    pattern weights, the colour table's steps."""
    return {**LIVE_STRENGTH._asdict(), "edge": refiner.edge, "pattern": refiner.pattern, "levels": LEVELS}


def web_files(converter, rows: int, cols: int, palette: str = "terminal") -> dict:
    """Every file of the static site, name -> bytes (or the Path of a shipped file to copy)."""
    from .onnx_export import cells_graph, net_graph
    model, allowed = converter.model, converter.allowed(palette)
    if model.net is None:
        load_weights(model)
    config = {**page_config(converter, rows, cols, palette),
              "models": {"cells": "cells.onnx", "net": "net.onnx", "views": "views.bin", "colours": "colours.bin"},
              "atlas": atlas_config(converter, allowed)}
    files = {name: PAGE / name for name in PAGE_FILES}
    files.update({f"ort/{p.name}": p for p in sorted((PAGE / "ort").iterdir())})
    files["config.json"] = json.dumps(config, ensure_ascii=False).encode()
    files["cells.onnx"] = cells_graph().SerializeToString()
    files["net.onnx"] = net_graph(model, converter.views_on(), allowed).SerializeToString()
    files["views.bin"] = np.asarray(converter.views_on(), "<f4").tobytes()  # what the cells that skip the net compare
    files["colours.bin"] = colour_table(converter.refiner().means, allowed).astype("<i4").tobytes()
    files["atlas.png"] = atlas(converter, allowed)
    return files


def atlas_config(converter, allowed: np.ndarray) -> dict:
    """The atlas's layout for config.json: each class's slot in it (-1: not in the palette)."""
    classes = np.flatnonzero(allowed)
    slots = np.full(len(allowed), -1)
    slots[classes] = np.arange(len(classes))
    return {"file": "atlas.png", "tile": TILE_PX, "columns": ATLAS_COLUMNS, "slots": slots.tolist()}


def atlas(converter, allowed: np.ndarray) -> bytes:
    """The palette's tiles ATLAS_COLUMNS to a row, as the renderer draws them (on the background)."""
    classes = np.flatnonzero(allowed)
    rows = -(-len(classes) // ATLAS_COLUMNS)
    grid = np.full(rows * ATLAS_COLUMNS, classes[0])
    grid[:len(classes)] = classes
    out = io.BytesIO()
    converter.image(grid.reshape(rows, ATLAS_COLUMNS), TILE_PX).save(out, format="PNG", compress_level=9)
    return out.getvalue()


def export_web(converter, out_dir, rows: int, cols: int, palette: str = "terminal", overwrite: bool = False) -> list[Path]:
    """Write the static site into OUT_DIR: made whole in a folder beside it, then put in place in one step
    (a rename), so a full disk or Ctrl-C never leaves half a site. With overwrite, a folder that holds
    files gets the site's in place of its own of the same names, the others carried over (copied), and
    is removed only once the new one is in place. Links inside OUT_DIR are never followed: an `ort` that
    links elsewhere is replaced by the site's own, its target untouched. Returns the files written."""
    out_dir = Path(out_dir)
    if out_dir.is_symlink() and out_dir.is_dir():
        out_dir = out_dir.resolve()  # a link given as OUT_DIR: the folder it names is the one replaced
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: is a file; give a folder for the site")
    if out_dir.is_symlink():
        raise OutputError(f"{out_dir}: is a link to {os.readlink(out_dir)}, which does not exist; remove the link "
                          "or give another folder")
    existing = out_dir.is_dir()
    if existing and any(out_dir.iterdir()) and not overwrite:
        raise OutputError(f"{out_dir}: already holds files; pass --overwrite to write the site over them, "
                          "or give a new folder")
    files = web_files(converter, rows, cols, palette)
    was = "the folder is as it was" if existing else "nothing was left there"
    temp = _beside(out_dir, "partial")
    try:
        for name, content in files.items():
            _write(temp / name, content)
        if existing:
            _carry_over(out_dir, temp, {name.split("/")[0] for name in files})
        else:
            os.chmod(temp, 0o777 & ~umask())
    except OSError as e:
        shutil.rmtree(temp, ignore_errors=True)
        raise OutputError(f"{out_dir}: the site could not be written ({e.strerror or first_line(e)}); it was being "
                          f"made beside the folder and is removed: {was}") from None
    except BaseException:  # Ctrl-C: nothing half-made is left
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _put_in_place(temp, out_dir, existing)
    return [out_dir / name for name in files]


def _beside(out_dir: Path, kind: str) -> Path:
    """A new hidden folder next to OUT_DIR (the same file system, so that a rename moves it)."""
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=f".{kind}", dir=out_dir.parent))
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot write here ({e.strerror}); choose another place") from None


def _write(path: Path, content) -> None:
    path.parent.mkdir(exist_ok=True)
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    else:
        path.write_bytes(content)


def _carry_over(out_dir: Path, temp: Path, site: set) -> None:
    """The folder's own files and folders that the site does not replace, copied into the new one as
    they are (links as links), and the folder's permissions."""
    for entry in out_dir.iterdir():
        if entry.name in site:
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), temp / entry.name)
        elif entry.is_dir():
            shutil.copytree(entry, temp / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, temp / entry.name)  # a FIFO or device is refused (SpecialFileError)
    shutil.copystat(out_dir, temp)


def _put_in_place(temp: Path, out_dir: Path, existing: bool) -> None:
    """The finished site renamed to OUT_DIR; an existing OUT_DIR is first moved aside, and removed only
    once the new one is there (put back if the new one cannot be)."""
    old = _beside(out_dir, "old") if existing else None
    try:
        if old:
            os.rename(out_dir, old)  # onto the empty folder just made, which a rename may replace
        try:
            os.rename(temp, out_dir)  # fails if a folder appeared there meanwhile: nothing is replaced
        except OSError:
            if old:
                os.rename(old, out_dir)
            raise
    except OSError as e:
        shutil.rmtree(temp, ignore_errors=True)
        if old and out_dir.exists():
            with contextlib.suppress(OSError):
                old.rmdir()  # still the empty placeholder
        was = "nothing was left there" if not existing else "the folder is as it was" if out_dir.exists() else \
            f"the folder is now {old}; rename it back"
        raise OutputError(f"{out_dir}: the site could not be put in place ({e.strerror}); it is removed, {was}") from None
    if old:
        shutil.rmtree(old, ignore_errors=True)


def file_bytes(content) -> bytes:
    """A web_files value as bytes: made here, or read from the shipped file it names."""
    return content.read_bytes() if isinstance(content, Path) else content
