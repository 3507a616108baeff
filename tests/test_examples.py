"""The shipped examples are what the code makes now: each output of examples/README.md made again, by its
own command, and compared with the file in examples/ (the same pixels, or the same text)."""
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from conftest import run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def commands() -> dict:
    """Output file -> the arguments of its `pic2emoji` command, as examples/README.md gives them."""
    found = {}
    for line in (EXAMPLES / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `([^`]+)` \| `pic2emoji ([^`]+)`", line)
        if match:
            found[match[1]] = match[2].split()
    return found


def frames(path: Path) -> list:
    with Image.open(path) as image:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]


def test_every_shipped_output_has_its_command():
    assert set(commands()) == {"mosaics/", "chelsea.txt", "chelsea.html", "animation/chelsea-zoom-mosaic.gif",
                              "styles/astronaut-noto.png", "styles/astronaut-twemoji.png", "styles/astronaut-openmoji.png"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(commands()))
def test_a_shipped_example_is_what_the_code_makes_now(name, tmp_path, monkeypatch):
    """If this fails after a change to how mosaics are made, run the command of examples/README.md (with
    DEV=CPU, as here: another device may part near-ties) and commit the new output."""
    monkeypatch.chdir(ROOT)
    shipped = EXAMPLES / name
    made = tmp_path / Path(name).name if not name.endswith("/") else tmp_path / "out"
    args = commands()[name]
    args[args.index("-o") + 1] = str(made)
    result = run(*args)
    assert result.exit_code == 0, result.output
    pairs = [(shipped / p.name, p) for p in sorted(made.iterdir())] if made.is_dir() else [(shipped, made)]
    assert made.is_file() or sorted(p.name for p in shipped.iterdir()) == sorted(p.name for _, p in pairs)
    for old, new in pairs:
        if new.suffix in (".txt", ".html"):
            assert new.read_text(encoding="utf-8") == old.read_text(encoding="utf-8"), old
        else:
            assert all(np.array_equal(a, b) for a, b in zip(frames(old), frames(new), strict=True)), old
