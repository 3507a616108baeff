"""The error family's helpers: an exception's message as one short line, and text as a terminal shows it."""
from hypothesis import given, settings, strategies as st

from pic2emoji.errors import first_line, shown


def test_a_long_message_is_cut_at_a_word_with_an_ellipsis():
    error = RuntimeError("Could not find any running Ray instance. Please specify the one to connect to by setting "
                         "the environment variable RAY_ADDRESS or --address\nsecond line")
    line = first_line(error, 120)
    assert len(line) <= 120 and line.endswith("…") and "RAY_ADDRES…" not in line and "\n" not in line
    assert line.split()[-1] in ("variable…", "environment…", "the…", "setting…")
    assert first_line(ValueError("short\nmore")) == "short" and first_line(KeyError()) == "KeyError"
    assert first_line(OSError("x" * 200), 50) == "x" * 49 + "…"  # one long word: cut where the limit is


def test_shown_escapes_what_would_act_on_a_terminal_and_keeps_emoji_whole():
    assert shown("photos/a b.jpg: not a readable image") == "photos/a b.jpg: not a readable image"
    assert shown("\x1b]0;pwned\x07a\nb\rc\x9b\u202ed\u2028\udcff.jpg") == \
        "\\x1b]0;pwned\\x07a\\nb\\rc\\x9b\\u202ed\\u2028\\udcff.jpg"
    assert shown("b.png: shows the same emoji 👨‍👩‍👧 as a.png\n") == "b.png: shows the same emoji 👨‍👩‍👧 as a.png\\n"
    assert shown("a\u200db 🏴󠁧󠁢󠁳󠁣󠁴󠁿") == "a\\u200db 🏴󠁧󠁢󠁳󠁣󠁴󠁿"  # a joiner outside an emoji hides; inside, it joins


JOINERS = {"\u200d", *map(chr, range(0xE0020, 0xE0080))}  # parts of emoji sequences


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(codec="utf-8") | st.sampled_from("\x1b\x07\n\r\x9b\u202e\u2028\u200d😀🏴")))
def test_shown_is_one_line_of_printable_text(text):
    out = shown(text)
    assert all(c.isprintable() or c in JOINERS for c in out), repr(out)
    assert shown(out) == out  # nothing left to escape
