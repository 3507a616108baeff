"""The errors pic2emoji raises on purpose, and how names are shown on a terminal.

Each message says what went wrong, with which file, and how to fix it, in one line: the CLI prints it
through `shown` (no traceback) and exits 1.
"""
import emoji


class Pic2EmojiError(Exception):
    """Base class: anything the user can fix."""


class EmojiSetError(Pic2EmojiError):
    """An emoji folder (or font) is missing, empty or unreadable."""


class ModelError(Pic2EmojiError):
    """A model file is missing, damaged, or does not belong to the emoji set."""


class ImageError(Pic2EmojiError):
    """A photo cannot be read or is unusable."""


class OutputError(Pic2EmojiError):
    """An output cannot be written, or would overwrite something without being asked to."""


class ServeError(Pic2EmojiError):
    """The live camera's server cannot start (address in use, unknown host)."""


class ClusterError(Pic2EmojiError):
    """Ray is missing, the cluster cannot be reached, or its workers cannot start or write the mosaics."""


def first_line(error: BaseException, limit: int = 120) -> str:
    """An exception's message as one short line for our own messages: its first line, cut at a word
    boundary to at most `limit` characters (an ellipsis marks the cut), or its type's name when it says
    nothing."""
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    line = lines[0]
    if len(line) <= limit:
        return line
    cut = line[:limit - 1]
    return (cut[:cut.rfind(" ")] if " " in cut[limit // 2:] else cut).rstrip(" ,;:") + "…"


def shown(text: str) -> str:
    """Text as a terminal should show it, on one line: each character that would act on the terminal
    instead of showing (controls such as ESC, BEL and newline; format characters such as bidi overrides;
    line separators; a file name's undecodable bytes) written as its escape, \\x1b or \\n. Emoji stay
    whole (the joiners inside a family emoji are part of it). Every name the CLI shows goes through here."""
    if text.isprintable():
        return text
    parts, at = [], 0
    for found in [*emoji.emoji_list(text), {"match_start": len(text), "match_end": len(text)}]:
        parts += [c if c.isprintable() else repr(c)[1:-1] for c in text[at:found["match_start"]]]
        parts.append(text[found["match_start"]:found["match_end"]])
        at = found["match_end"]
    return "".join(parts)
