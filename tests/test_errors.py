"""The error family's helper: an exception's message as one short line."""
from pic2emoji.errors import first_line


def test_a_long_message_is_cut_at_a_word_with_an_ellipsis():
    error = RuntimeError("Could not find any running Ray instance. Please specify the one to connect to by setting "
                         "the environment variable RAY_ADDRESS or --address\nsecond line")
    line = first_line(error, 120)
    assert len(line) <= 120 and line.endswith("…") and "RAY_ADDRES…" not in line and "\n" not in line
    assert line.split()[-1] in ("variable…", "environment…", "the…", "setting…")
    assert first_line(ValueError("short\nmore")) == "short" and first_line(KeyError()) == "KeyError"
    assert first_line(OSError("x" * 200), 50) == "x" * 49 + "…"  # one long word: cut where the limit is
