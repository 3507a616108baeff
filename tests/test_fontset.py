"""build-set against Debian's Noto Color Emoji (installed by scripts/setup.sh)."""
import numpy as np
import pytest

from pic2emoji.emoji_sets import load_emoji_set
from pic2emoji.files import shipped_dir
from pic2emoji.errors import EmojiSetError, OutputError
from pic2emoji.fontset import build_set, font_names

from conftest import NOTO

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SAMPLE = ["😀", "👨‍👩‍👧", "🇷🇴", "#️⃣", "❤️", "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
          "\U0001FAE9",          # face with bags under eyes: Emoji 16, not in this font
          "\U0001F1FF\U0001F1FF"]  # no such flag: the font's generic fallback


def test_renders_what_the_font_draws_and_skips_the_rest(tmp_path):
    built = build_set(NOTO, tmp_path / "out", progress=False, chars=SAMPLE)
    assert (built.count, built.skipped) == (6, 2)
    s = load_emoji_set(tmp_path / "out")
    assert sorted(s.chars) == sorted(SAMPLE[:6])
    assert s.images.shape[1:] == (72, 72, 4)
    assert all((img[..., 3] > 0).mean() > 0.2 for img in s.images)  # really drawn, not blank
    assert "Noto Color Emoji" in (tmp_path / "out" / "ATTRIBUTION.md").read_text()


def test_size_option(tmp_path):
    build_set(NOTO, tmp_path / "out", size=32, progress=False, chars=["😀"])
    assert load_emoji_set(tmp_path / "out", size=32).images.shape == (1, 32, 32, 4)


def test_reproduces_the_shipped_noto_set(tmp_path):
    built = build_set(NOTO, tmp_path / "noto", progress=False)
    shipped = sorted(p.name for p in (shipped_dir("emoji_sets") / "noto").glob("*.png"))
    assert sorted(p.name for p in (tmp_path / "noto").glob("*.png")) == shipped
    assert built.count == len(shipped)


def test_existing_images_are_kept_unless_forced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.png").write_bytes(b"precious")
    with pytest.raises(OutputError, match="--force"):
        build_set(NOTO, out, progress=False, chars=["😀"])
    assert (out / "mine.png").read_bytes() == b"precious"
    build_set(NOTO, out, progress=False, chars=["😀"], force=True)
    assert sorted(p.name for p in out.glob("*.png")) == ["1f600.png"]


@pytest.mark.parametrize("font, message", [
    ("/nonexistent/font.ttf", "no such font file"),
    (DEJAVU, "has no colour emoji"),
    (__file__, "cannot open as a font"),
])
def test_bad_fonts_are_refused_before_any_work(tmp_path, font, message):
    with pytest.raises(EmojiSetError, match=message):
        build_set(font, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_refuses_without_raqm(tmp_path, monkeypatch):
    from PIL import features
    monkeypatch.setattr(features, "check", lambda name: False if name == "raqm" else True)
    with pytest.raises(EmojiSetError, match="raqm"):
        build_set(NOTO, tmp_path / "out", progress=False)


def test_font_names_reads_the_version():
    assert font_names(NOTO)[5].startswith("Version ")


def test_pick_keeps_diverse_terminal_safe_emoji(tmp_path):
    chars = ["🟥", "🟧", "🟨", "🟩", "🟦", "🟪", "⬛", "⬜", "❤️", "👨‍👩‍👧"]
    build_set(NOTO, tmp_path / "out", progress=False, chars=chars, pick=4)
    s = load_emoji_set(tmp_path / "out")
    assert len(s) == 4 and "❤️" not in s.chars and "👨‍👩‍👧" not in s.chars
    means = s.images[..., :3].reshape(4, -1, 3).mean(1)
    assert np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(4, 1)].min() > 80


def test_a_damaged_name_table_is_refused_before_rendering(tmp_path, monkeypatch):
    import struct
    import pic2emoji.fontset as fontset
    data = bytearray(open(NOTO, "rb").read())
    (num_tables,) = struct.unpack(">H", data[4:6])
    entry = next(12 + 16 * i for i in range(num_tables) if data[12 + 16 * i:16 + 16 * i] == b"name")
    struct.pack_into(">I", data, entry + 8, len(data) - 4)  # the name table now starts 4 bytes before the end
    damaged = tmp_path / "damaged.ttf"
    damaged.write_bytes(bytes(data))
    rendered, render = [], fontset.render_glyph
    monkeypatch.setattr(fontset, "render_glyph", lambda *a: rendered.append(a) or render(*a))
    with pytest.raises(EmojiSetError, match="damaged.ttf: the font's name table is damaged"):
        build_set(damaged, tmp_path / "out", progress=False)
    assert len(rendered) <= 2 and not (tmp_path / "out").exists()  # the colour check only, not 3963 emoji
