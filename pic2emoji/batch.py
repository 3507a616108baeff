"""Batch conversion: every photo of some files and folders into a mosaic file each, under one folder.

The listing and its rules (which mosaic goes where, what is there already) stay in this process; an
engine converts the photos planned and records an Outcome for each. The local one runs them here:
while a photo goes through the net, a writer thread draws and writes the previous one's mosaic, so the
net rarely waits for a PNG encoder. The Ray one (cluster.py) spreads them over worker processes, each
with its own Converter. Both convert a photo with convert.prepare. A bad photo is reported and the
rest go on.
"""
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .convert import AlreadyThere, Outcome, attempt, check_output, prepare
from .converter import Converter
from .errors import ImageError, OutputError, Pic2EmojiError
from .formats import PHOTO_SUFFIXES, VIDEO_SUFFIXES, format_of, suffix_of
from .options import Options, film_options, names_folder

INPUT_SUFFIXES = PHOTO_SUFFIXES + VIDEO_SUFFIXES


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
                if Path(name).suffix.lower() not in INPUT_SUFFIXES or name.startswith("."):
                    continue
                if not path.is_file():
                    on_note(f"{path}: not a regular file (a FIFO, socket or device); skipped")
                    continue
                yield path, path.relative_to(given)


def convert_all(converter: Converter, inputs, out_dir, options: Options = Options(), overwrite: bool = False,
                skip_existing: bool = False, progress: bool = False, on_error=lambda message: None,
                on_note=lambda message: None, engine=None) -> BatchReport:
    """Convert every photo of `inputs` (files, or folders walked recursively) into OUT_DIR, mirroring
    their relative paths. Each failure is passed to `on_error` as one line and the batch goes on (the
    mosaics already there, without overwrite or skip_existing, in one line for all at the end); files
    skipped as not regular are passed to `on_note`. `engine`: None or "local" converts here;
    "ray" or a cluster.RayEngine(address) on Ray. The report lists photos in the order of the listing.

    Raises ImageError when the inputs hold no photo at all.
    """
    if options.split is not None:
        raise OutputError("--split cuts the text of one photo; give one photo and -o FILE.txt, not a folder")
    check_folder(out_dir)
    out_dir, outcomes = Path(out_dir), []
    there = []  # mosaics already there, neither to be replaced nor kept: one line for them all at the end

    def record(index: int, outcome: Outcome):
        outcomes.append((index, outcome))
        if outcome.there:
            there.append(str(outcome.there))
        elif outcome.error:
            on_error(outcome.error)

    jobs = planned(inputs, out_dir, options, overwrite, skip_existing, progress, record, on_note)
    engine_of(engine)(converter, jobs, out_dir, options, overwrite, record)
    if there:
        some = ", ".join(there[:2]) + (", …" if len(there) > 2 else "")
        on_error(f"{len(there)} mosaic{'s' * (len(there) > 1)} already there, left as they were ({some}); pass "
                 "--overwrite to replace them or --skip-existing to keep them without an error")
    report = BatchReport(out_dir)
    for _, outcome in sorted(outcomes, key=lambda indexed: indexed[0]):
        if outcome.error:
            report.failed.append((outcome.photo, outcome.error))
        elif outcome.kept:
            report.skipped.append(outcome.kept)
        else:
            report.converted += outcome.written
    if not outcomes:
        raise ImageError(f"no photos or videos ({', '.join(INPUT_SUFFIXES)}) in {', '.join(map(str, inputs))}; "
                         "give photos or folders that hold some")
    return report


def check_folder(out_dir) -> None:
    """Refuse, before any work, an output for several mosaics that is a file, or that a file's name
    (mosaic.png) makes look like one: a folder of that name would surprise."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise OutputError(f"{out_dir}: is a file, and the mosaics of several photos go into a folder; give a folder")
    if not names_folder(out_dir) and format_of(out_dir):
        raise OutputError(f"{out_dir}: names a {format_of(out_dir)} file, and the mosaics of several photos go "
                          f"into a folder; give a folder (e.g. {Path(out_dir).stem}/), or one photo")


def planned(inputs, out_dir: Path, options: Options, overwrite: bool, skip_existing: bool, progress: bool, record,
            on_note):
    """(index in the listing, photo, its mosaic) of each photo to convert, lazily; the photos skipped or
    refused (two inputs for one mosaic, an existing mosaic without --overwrite) go to `record` instead."""
    from tqdm import tqdm  # a batch's bar: a one-photo run need not import it
    planned_outs = set()
    total = sum(1 for _ in photos_in(inputs, out_dir)) if progress else None  # names only: a quick walk
    listing = tqdm(photos_in(inputs, out_dir, on_note), total=total, desc="converting", unit="photo",
                   disable=not progress)
    for index, (photo, relative) in enumerate(listing):
        mine = film_options(photo, options)
        out = out_dir / relative.with_suffix(suffix_of(mine.fmt))
        try:
            if out in planned_outs:
                raise OutputError(f"{photo}: its mosaic {out} would overwrite another input's; rename one of them")
            planned_outs.add(out)
            if out.exists() and skip_existing:
                record(index, Outcome(photo, kept=out))
                continue
            check_output(photo, out, overwrite)
        except Pic2EmojiError as e:
            record(index, Outcome(photo, error=str(e), there=e.out if isinstance(e, AlreadyThere) else None))
            continue
        yield index, photo, out, mine


def local(converter: Converter, jobs, out_dir: Path, options: Options, overwrite: bool, record) -> None:
    """The engine of this process: each mosaic written on a thread while the next photo goes through the net."""
    writing = None
    with ThreadPoolExecutor(1) as writer:
        for index, photo, out, options in jobs:
            try:
                write = prepare(converter, photo, out, options, overwrite)
            except Pic2EmojiError as e:
                record(index, Outcome(photo, error=str(e)))
                continue
            if writing:
                record(writing[0], writing[1].result())
            writing = index, writer.submit(attempt, photo, write)
        if writing:
            record(writing[0], writing[1].result())


def engine_of(engine):
    """The engine convert_all runs: local for None or "local", a RayEngine for "ray", else `engine` itself."""
    if engine in (None, "local"):
        return local
    if engine == "ray":
        from .cluster import RayEngine
        return RayEngine()
    if callable(engine):
        return engine
    raise ValueError(f"unknown engine {engine!r}; give None, 'local', 'ray' or a pic2emoji.cluster.RayEngine")
