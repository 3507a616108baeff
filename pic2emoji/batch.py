"""Batch conversion: every photo of some files and folders into a mosaic file each, under one folder.

While a photo goes through the net here, a writer thread draws and writes the previous one's mosaic,
so the net rarely waits for a PNG encoder. A bad photo is reported and the rest go on.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .errors import ImageError, OutputError, Pic2EmojiError
from .formats import ANIMATED
from .convert import Options, animation, check_output, look, save_animation
from .infer import Converter
from .render import suffix_of

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


@dataclass
class BatchReport:
    """What a batch did: the mosaics written, the ones kept as they were, and the photos that failed."""
    out_dir: Path
    converted: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (photo, the one-line reason)

    def __str__(self):
        return (f"converted {len(self.converted)}, skipped {len(self.skipped)}, failed {len(self.failed)}; "
                f"mosaics in {self.out_dir}")


def photos_in(inputs, out_dir=None, on_note=lambda message: None):
    """(photo, path relative to its folder) for files given, and for folders walked recursively.

    Folders are walked lazily in sorted order, so a folder of thousands of photos is never listed whole.
    The output folder is never walked (last run's mosaics are not photos), and what is not a regular
    file (a FIFO would block the batch forever, a device would be read without end) is skipped with a note.
    """
    skip = Path(out_dir).resolve() if out_dir is not None else None
    for given in map(Path, inputs):
        if not given.is_dir():
            yield given, Path(given.name)
            continue
        for root, folders, files in os.walk(given):
            folders[:] = sorted(f for f in folders if (Path(root) / f).resolve() != skip)
            for name in sorted(files):
                path = Path(root) / name
                if Path(name).suffix.lower() not in PHOTO_SUFFIXES or name.startswith("."):
                    continue
                if not path.is_file():
                    on_note(f"{path}: not a regular file (a FIFO, socket or device); skipped")
                    continue
                yield path, path.relative_to(given)


def convert_all(converter: Converter, inputs, out_dir, options: Options = Options(), overwrite: bool = False,
                skip_existing: bool = False, progress: bool = False, on_error=lambda message: None,
                on_note=lambda message: None) -> BatchReport:
    """Convert every photo of `inputs` (files, or folders walked recursively) into OUT_DIR, mirroring
    their relative paths. Each failure is passed to `on_error` as one line and the batch goes on;
    files skipped as not regular are passed to `on_note`.

    Raises ImageError when the inputs hold no photo at all.
    """
    if options.split is not None:
        raise OutputError("--split cuts the text of one photo; give one photo and -o FILE.txt, not a folder")
    out_dir = Path(out_dir)
    report, planned, writing = BatchReport(out_dir), set(), []

    def fail(photo, error):
        report.failed.append((photo, str(error)))
        on_error(str(error))

    def finish_writing():  # the previous mosaic, written while this photo went through the net
        for photo, out, future in writing:
            try:
                future.result()
                report.converted.append(out)
            except Pic2EmojiError as e:
                fail(photo, e)
        writing.clear()

    with ThreadPoolExecutor(1) as writer:
        for photo, relative in tqdm(photos_in(inputs, out_dir, on_note), desc="converting", unit="photo",
                                    disable=not progress):
            out = out_dir / relative.with_suffix(suffix_of(options.fmt))
            try:
                if out in planned:
                    raise OutputError(f"{photo}: its mosaic {out} would overwrite another input's; rename one of them")
                planned.add(out)
                if out.exists() and skip_existing:
                    report.skipped.append(out)
                    continue
                check_output(photo, out, overwrite)
                if options.fmt in ANIMATED and (moving := animation(photo)):
                    report.converted += save_animation(converter, *moving, out, options, overwrite)
                    continue
                grid, colours = converter.cells(photo, options.cols, options.rows, options.palette, options.method)
                future = writer.submit(converter.renderer.write, grid, out, options.fmt, options.tile_px, overwrite,
                                       **look(options, photo, colours))
            except Pic2EmojiError as e:
                fail(photo, e)
                continue
            finish_writing()
            writing.append((photo, out, future))
        finish_writing()
    if not (report.converted or report.skipped or report.failed):
        raise ImageError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {', '.join(map(str, inputs))}; "
                         "give photos or folders that hold some")
    return report
