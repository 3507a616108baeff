"""Emoji sets: a folder of emoji images becomes an ordered list of tiles and the characters they show.

A set is any folder of images (PNG, WebP, GIF, BMP; any size and mode). The class order is the sorted
list of file names, so it is the same on every machine. A file's name says which emoji it shows:
lowercase hex code points joined by `-` (`2764-fe0f.png`, our convention, written by `build-set`),
or joined by `_`, with Noto's `emoji_u` prefix (`emoji_u1f600.png`), or emojipedia style
(`anger-symbol_1f4a2.png`).

Each tile also has text. A tile whose name names an emoji prints as that emoji; any other tile (a chat
workspace's `party_parrot.gif`) prints as the `:party_parrot:` shortcode its name gives, which Slack
and Discord draw as the custom emoji. `shortcode(i)` writes every tile as a shortcode, the emoji's
common one where the `emoji` package knows it. An optional names.json in the folder (file name ->
text) overrides both, for names a chat spells differently.
"""
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import emoji
import numpy as np
from PIL import Image

from .defaults import BACKGROUND, TILE_SIZE
from .errors import EmojiSetError
from .files import shipped_dir
from .pixels import composite, resize_tiles

IMAGE_SUFFIXES = (".png", ".webp", ".gif", ".bmp")
NAMES_FILE = "names.json"  # optional, in the set's folder: {"file name": "its text in mosaics"}
SKIN_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))
_FULLY_QUALIFIED = emoji.STATUS["fully_qualified"]
_HEX = re.compile(r"[0-9a-f]{1,6}")
_NOT_IN_SHORTCODES = re.compile(r"[^a-z0-9_+-]+")  # Slack and Discord names: lowercase, digits, _ - +


def char_to_name(char: str) -> str:
    """File name stem for an emoji: `❤️` -> `2764-fe0f`. FE0F is kept so the name round-trips."""
    return "-".join(f"{ord(c):x}" for c in char)


def _decode(parts: list[str]) -> str | None:
    tokens = "-".join(parts).split("-")
    if not all(_HEX.fullmatch(t) for t in tokens):
        return None
    codepoints = [int(t, 16) for t in tokens]
    return "".join(map(chr, codepoints)) if max(codepoints) <= 0x10FFFF else None


def name_to_char(stem: str) -> str | None:
    """The emoji a file name stem stands for, or None when it names none.

    The code points are the longest run of hex at the end of the name, so `anger-symbol_1f4a2` works;
    a run the emoji data knows wins over one it does not, so `cafe_1f600` is 😀, not U+CAFE 😀, and
    `smile_face` names nothing.
    """
    stem = stem.lower().removeprefix("emoji_u")
    parts = stem.split("_")
    candidates = [c for start in range(len(parts)) if (c := _decode(parts[start:]))]
    known = [c for c in candidates if emoji.is_emoji(c) or emoji.is_emoji(c + "\ufe0f")]
    if known:
        return known[0]
    # An emoji newer than our data: trust it only when the whole name is code points, one of them where
    # new emoji go (U+1F000 on), so that a custom emoji's `face` or `a` is not read as U+FACE or a newline.
    newer = _decode(parts)
    return newer if newer and max(map(ord, newer)) >= 0x1F000 else None


def unsafe_characters(text: str) -> list[str]:
    """The characters of `text`, outside its emoji, that would act on a terminal or a page instead of
    being shown: controls (Cc: a newline, ESC), format characters (Cf: bidi overrides, zero widths) and
    line or paragraph separators. Inside a real emoji, ZWJ and tags are part of it and fine."""
    if text in emoji.EMOJI_DATA:  # one emoji the data knows (a set's tile, mostly): nothing outside it
        return []
    rest = emoji.replace_emoji(text, "")
    return [c for c in rest if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


def is_terminal_safe(char: str | None) -> bool:
    """One code point shown as emoji by default: two columns wide in every terminal we know.

    In Unicode's emoji-test data a lone code point is fully qualified exactly when it has default
    emoji presentation, which is the property terminals use to decide the width.
    """
    return char is not None and len(char) == 1 and emoji.EMOJI_DATA.get(char, {}).get("status") == _FULLY_QUALIFIED


def prints_aligned(text: str) -> bool:
    """Whether the terminal palette keeps this text: one terminal-safe emoji, or plain ASCII such as
    `:blob_cat:`, which a chat draws as one emoji and which no terminal draws unevenly."""
    return is_terminal_safe(text) or text.isascii()


def emoji_shortcode(char: str) -> str | None:
    """The `emoji` package's shortcode for an emoji, `:grinning:` for 😀, or None if it has none.

    Its aliases are GitHub's (gemoji), which Slack and Discord share for most emoji; where an emoji
    has no alias, its English CLDR name (`:red_square:`).
    """
    for variant in (char, char + "\ufe0f", char.replace("\ufe0f", "")):  # file names drop or keep FE0F
        data = emoji.EMOJI_DATA.get(variant)
        if data:
            return (data.get("alias") or [data["en"]])[0]
    return None


def stem_shortcode(stem: str) -> str:
    """`:blob_cat:` for `Blob Cat`: the name as a chat's custom emoji name, lowercase ASCII."""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()  # café -> cafe
    name = _NOT_IN_SHORTCODES.sub("_", ascii_stem.lower()).strip("_")
    return f":{name or char_to_name(stem)}:"  # a name of no Latin letters keeps its code points


@dataclass
class EmojiSet:
    """The tiles of an emoji set, in class order."""
    name: str            # the folder's name, e.g. "noto"
    path: Path
    files: list[str]     # file names, sorted: this is the class order
    chars: list[str | None]  # the emoji each file shows, None where the name names none
    size: int = TILE_SIZE    # tiles are size×size
    names: dict[str, str] = field(default_factory=dict)  # file -> text, from names.json: wins over both texts
    _loaded: dict = field(default_factory=dict, repr=False)  # index -> RGBA tile, read on first use

    def __len__(self):
        return len(self.files)

    def tiles(self, indices) -> np.ndarray:
        """The tiles at these indices: (len(indices), size, size, 4) uint8 RGBA, each file read once."""
        for i in indices:
            if i not in self._loaded:
                file = self.path / self.files[i]
                try:
                    self._loaded[i] = load_tile(file, self.size)
                except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                    raise EmojiSetError(f"{file}: not a readable image ({e}); remove or replace it") from None
        return np.stack([self._loaded[i] for i in indices]) if len(indices) else np.zeros((0, self.size, self.size, 4), np.uint8)

    @property
    def images(self) -> np.ndarray:
        """Every tile: (N, size, size, 4) uint8 RGBA."""
        return self.tiles(range(len(self)))

    def read_all(self) -> None:
        """Read every tile now, so that a damaged file is named before any work starts."""
        self.tiles(range(len(self)))

    def text(self, index: int) -> str:
        """What text mosaics print for this tile: its emoji, or its shortcode where it names none."""
        file = self.files[index]
        return self.names.get(file) or self.chars[index] or stem_shortcode(Path(file).stem)

    def shortcode(self, index: int) -> str:
        """This tile as a chat shortcode, `:grinning:` or `:party_parrot:`."""
        file, char = self.files[index], self.chars[index]
        return self.names.get(file) or (char and emoji_shortcode(char)) or stem_shortcode(Path(file).stem)

    def on_background(self, background, size: int | None = None) -> np.ndarray:
        """Tiles composited onto a solid colour: (N, size, size, 3) float32 in 0..255."""
        images = self.images if size in (None, TILE_SIZE) else resize_tiles(self.images, size)
        return composite(images, background)


def shipped_sets() -> list[str]:
    folder = shipped_dir("emoji_sets")
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def find_emoji_set(name_or_path) -> Path:
    """A folder path as given, else a shipped set of that name (`noto`)."""
    path = Path(name_or_path)
    if path.exists() or len(path.parts) != 1:
        return path
    shipped = shipped_dir("emoji_sets") / path
    return shipped if shipped.is_dir() else path


def load_tile(path: Path, size: int = TILE_SIZE) -> np.ndarray:
    """One emoji image, any format and mode, as RGBA uint8 at size×size (padded to a square, not cut)."""
    with Image.open(path) as im:
        im.seek(0)  # the first frame of an animation
        im = im.convert("RGBA")
    side = max(im.size)
    square = Image.new("RGBA", (side, side))
    square.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return np.asarray(square.resize((size, size), Image.LANCZOS) if side != size else square)


def load_emoji_set(name_or_path, size: int = TILE_SIZE, lazy: bool = False) -> EmojiSet:
    """Load every image in an emoji folder (or a shipped set by name) in sorted file-name order.

    With `lazy`, only the file names are read now and each image when it is first asked for (a mosaic
    uses a few hundred of 1898), so an unreadable image is reported only if it is used.
    """
    path = find_emoji_set(name_or_path)
    if not path.is_dir():
        known = ", ".join(shipped_sets()) or "none installed"
        what = "is not a folder" if path.exists() else "does not exist"
        raise EmojiSetError(f"emoji set {str(name_or_path)!r} {what}: give a folder of emoji images or "
                            f"a shipped set ({known})")
    with os.scandir(path) as entries:  # DirEntry knows a file from the listing: no stat of each of 1900 files
        files = sorted(e.name for e in entries if e.name.lower().endswith(IMAGE_SUFFIXES)
                       and not e.name.startswith(".") and e.is_file())
    if not files:
        raise EmojiSetError(f"{path}: no emoji images ({', '.join(IMAGE_SUFFIXES)}) in this folder; "
                            "point to a folder of emoji images or make one with `pic2emoji build-set`")
    chars = [name_to_char(Path(f).stem) for f in files]
    for file, char in zip(files, chars):
        if char is not None and (unsafe := unsafe_characters(char) or [c for c in char if c.isspace()]):
            raise EmojiSetError(f"{path / file}: its name decodes to {_shown(unsafe)}, which would act on a "
                                "terminal instead of showing; rename the file (code points of emoji only)")
    seen = {}
    for file, char in zip(files, chars):
        if char is not None and char in seen:
            raise EmojiSetError(f"{path / file}: shows the same emoji {char} as {seen[char]}; remove one")
        seen[char] = file
    emoji_set = EmojiSet(path.resolve().name, path, files, chars, size, read_names(path, files))
    _refuse_shared_texts(emoji_set)
    if not lazy:
        emoji_set.read_all()
    return emoji_set


def read_names(folder: Path, files: list[str]) -> dict[str, str]:
    """The set's names.json, {file name: text}, checked: {} when there is none."""
    path = folder / NAMES_FILE
    if not path.is_file():
        return {}
    example = '{"party_parrot.gif": ":partyparrot:"}'
    try:
        names = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM, as Windows editors write, is fine
    except OSError as e:
        raise EmojiSetError(f"{path}: cannot be read ({e.strerror}); fix its permissions or remove it") from None
    except ValueError as e:  # not JSON, or not UTF-8
        reason = f"{e.msg}, line {e.lineno}" if isinstance(e, json.JSONDecodeError) else "not UTF-8"
        raise EmojiSetError(f"{path}: not valid JSON ({reason}); fix it or remove it") from None
    if not isinstance(names, dict):
        raise EmojiSetError(f"{path}: must be one JSON object of file name -> text, like {example}")
    known = set(files)
    for file, text in names.items():
        if file not in known:
            raise EmojiSetError(f"{path}: {file!r} is not an image of this folder; give a file name with its "
                                f"extension, like {example}, or remove the entry")
        if not isinstance(text, str) or not text.strip() or unsafe_characters(text):
            raise EmojiSetError(f"{path}: the text for {file!r} must be a non-empty string on one line, without "
                                f"control or format characters, like {example}")
    return names


def _refuse_shared_texts(emoji_set: EmojiSet) -> None:
    """Two tiles that print as the same text (`party.png` and `PARTY.png` are both :party:) could not be
    told apart in a text mosaic or a chat: refused, naming both. (Two real emoji may share a shortcode in
    the emoji data, 🐞 and 🪲 :beetle:; a chat draws its own emoji for it, so those are left as they are.)"""
    custom = [char is None for char in emoji_set.chars]
    texts = [emoji_set.text(i) for i in range(len(emoji_set))]
    shortcodes = [emoji_set.shortcode(i) if custom[i] or emoji_set.files[i] in emoji_set.names else None
                  for i in range(len(emoji_set))]
    for printed in (texts, shortcodes):
        first = {}
        for i, text in enumerate(printed):
            if text is not None and text in first:
                raise EmojiSetError(f"{emoji_set.path / emoji_set.files[i]}: prints as {text} like "
                                    f"{emoji_set.files[first[text]]}; rename one of them or give each its own "
                                    f"text in {NAMES_FILE}")
            first.setdefault(text, i)


def _shown(characters: list[str]) -> str:
    return ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(characters))


def near_duplicates(emoji_set: EmojiSet, background=BACKGROUND, threshold: float = 8.0,
                    size: int = 12) -> list[int]:
    """For each emoji, the index of the emoji it merges into (itself if it is kept).

    Emoji are compared at size×size over the background by RMS distance (0..255 scale). At 12×12 over
    grey, a threshold of 8 catches true look-alikes (clock faces, some flags, family silhouettes) and
    keeps gender variants apart (they merge from about 12). Merging is greedy in class order, so the
    result is the same on every machine; of each group the member that prints best as text is kept.
    """
    small = emoji_set.on_background(background, size).reshape(len(emoji_set), -1).astype(np.float64)
    squared = (small ** 2).sum(1)
    dist2 = np.maximum(squared[:, None] + squared[None, :] - 2 * small @ small.T, 0) / small.shape[1]
    close = dist2 <= threshold ** 2
    merged_into = list(range(len(emoji_set)))
    for i in range(len(emoji_set)):
        if merged_into[i] != i:
            continue
        group = [i] + [j for j in np.flatnonzero(close[i, i + 1:]) + i + 1 if merged_into[j] == j]
        # Keep the member that prints best as text: terminal-safe first, then the shortest sequence.
        keep = min(group, key=lambda k: (not is_terminal_safe(emoji_set.chars[k]), len(emoji_set.text(k)), k))
        for j in group:
            merged_into[j] = keep
    return merged_into
