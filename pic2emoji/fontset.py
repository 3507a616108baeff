"""`build-set`: render every emoji a colour font or a folder of SVG emoji really draws, one PNG per emoji.

The emoji list comes from the `emoji` package (Unicode's emoji-test data, fully-qualified entries). A
font may lack some of them: then it draws nothing, draws the pieces of a sequence side by side, or
draws its generic "unknown flag". Each emoji is checked for all three before it is kept. A folder of
SVGs (Twemoji's `dist/svg`, OpenMoji's `svg`) names its emoji by code points; files that name none of
Unicode's emoji (OpenMoji's extras, lone regional indicators) are skipped.
"""
import io
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import emoji
import numpy as np
from PIL import Image, ImageDraw, ImageFont, features
from tqdm import tqdm

from .defaults import BACKGROUND, TILE_SIZE
from .emoji_sets import IMAGE_SUFFIXES, SKIN_TONES, char_to_name, is_terminal_safe, name_to_char
from .errors import EmojiSetError, OutputError, first_line
from .pixels import block_means, composite

# Bitmap colour fonts load only at the sizes they hold: Noto's CBDT strikes are 109 px, Apple's sbix 160.
BITMAP_SIZES = (109, 160, 137, 96, 64, 48, 40, 32, 20)
UNKNOWN_FLAG = "\U0001F1FF\U0001F1FF"  # regional indicators Z Z: no such country, so the fallback flag


@dataclass
class BuiltSet:
    out_dir: Path
    count: int      # emoji written
    skipped: int    # emoji the font does not draw, or SVG files that name no emoji
    source: str     # "Noto Color Emoji Regular (Version 2.042…)", "3846 SVG files in svg"
    skipped_as: str  # what the skipped ones are, for the summary

    def summary(self) -> str:
        return f"wrote {self.count} emoji from {self.source} to {self.out_dir}; {self.skipped} {self.skipped_as}"


@dataclass
class Drawn:
    """What a source draws: the emoji, their tiles, and the words ATTRIBUTION.md needs."""
    chars: list[str]
    tiles: list[np.ndarray]
    skipped: int
    source: str
    skipped_as: str
    attribution: str


def font_names(path) -> dict[int, str]:
    """The font's `name` table (1: family, 5: version, 13: licence, ...); Pillow does not expose it.

    A damaged table (offsets or counts past the end of the file) is refused with our error, before any
    emoji is rendered."""
    data = Path(path).read_bytes()
    try:
        start = struct.unpack(">I", data[12:16])[0] if data[:4] == b"ttcf" else 0  # first font of a collection
        (num_tables,) = struct.unpack(">H", data[start + 4:start + 6])
        for i in range(num_tables):
            tag, _, table, _ = struct.unpack(">4sIII", data[start + 12 + 16 * i:start + 28 + 16 * i])
            if tag != b"name":
                continue
            _, count, strings = struct.unpack(">HHH", data[table:table + 6])
            names = {}
            for k in range(count):
                platform, _, _, name_id, length, offset = struct.unpack(">6H", data[table + 6 + 12 * k:table + 18 + 12 * k])
                begin = table + strings + offset
                if begin + length > len(data):
                    raise struct.error(f"name {name_id} lies past the end of the file")
                raw = data[begin:begin + length]
                names.setdefault(name_id, raw.decode("latin-1") if platform == 1 else raw.decode("utf-16-be", "replace"))
            return names
    except struct.error as e:
        raise EmojiSetError(f"{path}: the font's name table is damaged ({e}); repair the font or use another") from None
    return {}


def open_color_font(path) -> ImageFont.FreeTypeFont:
    """Open a colour emoji font at a size it supports, or say clearly why not."""
    if not features.check("raqm"):
        raise EmojiSetError("Pillow here lacks the raqm layout engine, so flags, families and keycaps would "
                            "fall apart: install libraqm0 and libfribidi0 (apt) and reinstall Pillow")
    if not Path(path).is_file():
        raise EmojiSetError(f"{path}: no such font file or folder of SVGs; on Debian/Ubuntu `apt-get install fonts-noto-color-emoji` "
                            "gives /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
    error = None
    for size in BITMAP_SIZES:
        try:
            font = ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)
            break
        except OSError as e:
            error = e
    else:
        raise EmojiSetError(f"{path}: cannot open as a font ({error}); give a colour emoji font file (.ttf/.ttc)")
    glyph = render_glyph(font, "\U0001F600")
    colourful = (glyph[..., :3].max(-1).astype(int) - glyph[..., :3].min(-1) > 40) & (glyph[..., 3] > 0)
    if colourful.sum() < glyph.shape[0]:
        raise EmojiSetError(f"{path}: has no colour emoji (😀 draws without colour); give a colour emoji font")
    return font


def render_glyph(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray:
    """Draw one emoji on a transparent square canvas the size of the font's emoji cell."""
    left, top, right, bottom = font.getbbox("\U0001F600")
    side = max(right - left, bottom - top)
    canvas = Image.new("RGBA", (side, side))
    ImageDraw.Draw(canvas).text((-left + (side - right + left) // 2, -top + (side - bottom + top) // 2),
                                char, font=font, embedded_color=True)
    return np.asarray(canvas)


def candidates(skin_tones: bool = False) -> list[str]:
    """Fully-qualified emoji from Unicode's data, in file-name order."""
    chars = [c for c, data in emoji.EMOJI_DATA.items() if data["status"] == emoji.STATUS["fully_qualified"]]
    if not skin_tones:
        chars = [c for c in chars if not SKIN_TONES.intersection(c)]
    return sorted(chars, key=char_to_name)


def pick_diverse(tiles: np.ndarray, n: int, background=BACKGROUND) -> list[int]:
    """Indices of n tiles spread over colour and coarse shape: farthest-point sampling on 3×3 means."""
    points = block_means(composite(tiles, background), tiles.shape[1] // 3).reshape(len(tiles), -1)
    chosen = [int(np.argmax(((points - points.mean(0)) ** 2).sum(1)))]
    distance = ((points - points[chosen[0]]) ** 2).sum(1)
    while len(chosen) < min(n, len(tiles)):
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, ((points - points[chosen[-1]]) ** 2).sum(1))
    return sorted(chosen)


def draw_font(font_path, size: int, skin_tones: bool, chars, progress: bool) -> Drawn:
    """Every emoji the colour font draws, as size×size tiles."""
    font = open_color_font(font_path)
    names = font_names(font_path)  # a damaged font is refused before minutes of rendering
    unknown = [render_glyph(font, UNKNOWN_FLAG), np.zeros_like(render_glyph(font, "\U0001F600"))]
    one_glyph = font.getlength("\U0001F600")
    drawn_chars, tiles, skipped = [], [], 0
    for char in tqdm(chars or candidates(skin_tones), desc="rendering", unit="emoji", disable=not progress):
        glyph = render_glyph(font, char)
        drawn = (abs(font.getlength(char) - one_glyph) < 1 and glyph[..., 3].any()
                 and not any(np.array_equal(glyph, u) for u in unknown))
        if not drawn:
            skipped += 1
            continue
        drawn_chars.append(char)
        tiles.append(np.asarray(Image.fromarray(glyph).resize((size, size), Image.LANCZOS)))
    if not drawn_chars:
        raise EmojiSetError(f"{font_path}: draws none of the {skipped} emoji tried; give a colour emoji font")
    family, version = " ".join(font.getname()), names.get(5, "unknown version")
    return Drawn(drawn_chars, tiles, skipped, f"{family} ({version})", "not drawn by this font",
                 f"{family}, {version} ({Path(font_path).name}).\n\n"
                 f"Copyright: {names.get(0, 'see the font')}\n\nFont licence: {names.get(13, 'see the font')}\n"
                 f"{names.get(14, '')}\n")


def svg_files(folder, skin_tones: bool = False, chars=None) -> tuple[dict[str, Path], int]:
    """The SVG file for each emoji in the folder, and how many SVG files the folder holds.

    Twemoji drops FE0F from its names (`2764.svg`) and OpenMoji keeps it in capitals (`2764-FE0F.svg`);
    both are matched to the fully-qualified emoji without FE0F, so the tiles get the names and
    shortcodes a font's set gets (`2764-fe0f.png`)."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".svg" and p.is_file())
    if not files:
        raise EmojiSetError(f"{folder}: holds no .svg files; give a folder of SVG emoji named by code points "
                            "(such as Twemoji's dist/svg) or a colour emoji font")
    wanted = set(chars) if chars else None
    by_bare = {c.replace("\ufe0f", ""): c for c in candidates(skin_tones=True)}
    found = {}
    for file in files:
        named = name_to_char(file.stem)
        char = by_bare.get(named.replace("\ufe0f", "")) if named else None
        if char and (skin_tones or not SKIN_TONES.intersection(char)) and (wanted is None or char in wanted):
            found.setdefault(char, file)
    if not found:
        raise EmojiSetError(f"{folder}: none of its {len(files)} SVG files is named after an emoji; name them by "
                            "code points like 1f600.svg or 1f468-200d-1f469.svg")
    return found, len(files)


def render_svg(file: Path, size: int) -> np.ndarray:
    """Draw one SVG on a transparent size×size canvas, centred; a non-square drawing keeps its shape."""
    try:
        import resvg_py
    except ImportError:
        raise EmojiSetError("build-set from SVG files needs resvg-py: pip install 'pic2emoji[svg]'") from None
    try:
        # skip_system_fonts: emoji SVGs hold paths, not text, and loading every font costs time per file
        png = resvg_py.svg_to_bytes(svg_path=str(file), width=size, height=size, skip_system_fonts=True)
        drawing = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    except (ValueError, OSError) as e:
        raise EmojiSetError(f"{file}: not a readable SVG ({first_line(e)}); repair or remove it") from None
    canvas = Image.new("RGBA", (size, size))
    canvas.paste(drawing, ((size - drawing.width) // 2, (size - drawing.height) // 2))
    return np.asarray(canvas)


def draw_svgs(folder, size: int, skin_tones: bool, chars, progress: bool) -> Drawn:
    """Every emoji the folder's SVG files draw, as size×size tiles."""
    files, count = svg_files(folder, skin_tones, chars)
    skipped = count - len(files)
    drawn_chars, tiles = [], []
    for char in tqdm(sorted(files, key=char_to_name), desc="rendering", unit="emoji", disable=not progress):
        tile = render_svg(files[char], size)
        if not tile[..., 3].any():
            skipped += 1
            continue
        drawn_chars.append(char)
        tiles.append(tile)
    if not drawn_chars:
        raise EmojiSetError(f"{folder}: its SVG files draw nothing; give a folder of SVG emoji")
    return Drawn(drawn_chars, tiles, skipped, f"{count} SVG files in {folder}",
                 "files left out (skin tones, names that are not an emoji in Unicode's data, blank drawings)",
                 f"the SVG files in {Path(folder).name}/; see the set's LICENSE for their licence.\n")


@dataclass(frozen=True)
class Source:
    """A kind of thing build-set reads: a path it takes, and the function that draws its emoji."""
    name: str
    takes: Callable[[Path], bool]
    draw: Callable[..., Drawn]


SOURCES = (Source("folder of SVG emoji", Path.is_dir, draw_svgs),
           Source("colour emoji font", lambda path: not path.is_dir(), draw_font))


def build_set(source, out_dir, size: int = TILE_SIZE, skin_tones: bool = False, pick: int | None = None,
              force: bool = False, progress: bool = True, chars=None) -> BuiltSet:
    """Render every emoji SOURCE draws into OUT_DIR as <code points>.png, plus ATTRIBUTION.md.

    SOURCE is a colour emoji font, or a folder of SVG emoji named by code points (`1f600.svg`).
    With `pick`, keep only that many terminal-safe emoji chosen for diversity (for small, quick sets).
    `chars` limits the emoji tried (default: all of Unicode's, see `candidates`).
    OUT_DIR's existing images are replaced only with `force`; the set is written beside it first and
    moved in at the end, so an interrupted run leaves nothing half-written.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder; choose another output folder")
    existing = [p for p in out_dir.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES] if out_dir.is_dir() else []
    if existing and not force:
        raise OutputError(f"{out_dir}: already holds {len(existing)} images; pass --force to replace them "
                          "or choose an empty folder")
    kind = next(k for k in SOURCES if k.takes(Path(source)))
    drawn = kind.draw(source, size, skin_tones, chars, progress)
    chars, tiles = drawn.chars, drawn.tiles
    if pick:
        safe = [i for i, c in enumerate(chars) if is_terminal_safe(c)]
        keep = [safe[i] for i in pick_diverse(np.stack([tiles[i] for i in safe]), pick)]
        chars, tiles = [chars[i] for i in keep], [tiles[i] for i in keep]

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for char, tile in zip(chars, tiles):
            Image.fromarray(tile).save(staging / f"{char_to_name(char)}.png", optimize=True)
        (staging / "ATTRIBUTION.md").write_text(
            f"# {out_dir.name}\n\n{len(chars)} emoji rendered by `pic2emoji build-set` at {size}×{size} px from\n"
            + drawn.attribution, encoding="utf-8")
        out_dir.mkdir(exist_ok=True)
        for old in existing:
            old.unlink()
        for new in staging.iterdir():
            new.replace(out_dir / new.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuiltSet(out_dir, len(chars), drawn.skipped, drawn.source, drawn.skipped_as)
