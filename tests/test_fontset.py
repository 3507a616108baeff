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


@pytest.mark.slow
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


# SVG folders: small SVGs written here, named the way Twemoji (FE0F dropped) and OpenMoji (capitals,
# FE0F kept) name theirs. Each is one colour filling its viewBox, so the tiles can be checked by colour.
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}"><rect width="{w}" height="{h}" fill="{fill}"/></svg>'


def write_svgs(folder, files: dict[str, str], size=(36, 36)):
    folder.mkdir(parents=True, exist_ok=True)
    for name, fill in files.items():
        (folder / name).write_text(SVG.format(w=size[0], h=size[1], fill=fill))
    return folder


def test_svg_folders_give_the_names_a_font_gives(tmp_path):
    svgs = write_svgs(tmp_path / "svg", {
        "1f600.svg": "#ff0000",                        # 😀
        "2764.svg": "#00ff00",                         # ❤️, Twemoji's name without FE0F
        "1F1F7-1F1F4.svg": "#0000ff",                  # 🇷🇴, OpenMoji's capitals
        "23-20e3.svg": "#ffff00",                      # #️⃣ keycap without FE0F
        "1F441-FE0F-200D-1F5E8-FE0F.svg": "#00ffff",   # 👁️‍🗨️ with FE0F kept
        "1f44d-1f3fd.svg": "#ff00ff",                  # 👍🏽: a skin tone, left out by default
        "e000.svg": "#ffffff",                         # OpenMoji's extras: no emoji
        "1f1e6.svg": "#ffffff",                        # a lone regional indicator: no emoji
    })
    built = build_set(svgs, tmp_path / "out", progress=False)
    assert (built.count, built.skipped) == (5, 3)
    names = sorted(p.stem for p in (tmp_path / "out").glob("*.png"))
    assert names == ["1f1f7-1f1f4", "1f441-fe0f-200d-1f5e8-fe0f", "1f600", "23-fe0f-20e3", "2764-fe0f"]
    s = load_emoji_set(tmp_path / "out")
    assert s.images.shape == (5, 72, 72, 4) and (s.images[..., 3] == 255).all()
    red = s.images[s.chars.index("😀")]
    assert (red[..., :3] == (255, 0, 0)).all()
    assert s.shortcode(s.chars.index("❤️")) == ":heart:"  # what Discord and Slack call it
    noto = load_emoji_set(shipped_dir("emoji_sets") / "noto")
    assert {n: s.shortcode(s.files.index(n + ".png")) for n in names} == {
        n: noto.shortcode(noto.files.index(n + ".png")) for n in names}  # same scheme as the noto set


def test_svg_skin_tones_when_asked(tmp_path):
    svgs = write_svgs(tmp_path / "svg", {"1f44d.svg": "#ffcc00", "1f44d-1f3fd.svg": "#aa7744"})
    assert build_set(svgs, tmp_path / "out", progress=False, skin_tones=True).count == 2


def test_a_wide_svg_is_centred_not_stretched(tmp_path):
    svgs = write_svgs(tmp_path / "svg", {"1f349.svg": "#ff0000"}, size=(36, 18))
    build_set(svgs, tmp_path / "out", progress=False)
    alpha = load_emoji_set(tmp_path / "out").images[0][..., 3]
    rows = np.flatnonzero(alpha.max(1) > 128)
    assert (rows.min(), rows.max()) == (18, 53) and (alpha[:, 0] == 255).sum() == 36


@pytest.mark.parametrize("files, message", [
    ({}, "holds no .svg files"),
    ({"party.svg": "#ff0000", "smile.svg": "#00ff00"}, "none of its 2 SVG files is named after an emoji"),
])
def test_svg_folders_without_emoji_are_refused(tmp_path, files, message):
    svgs = write_svgs(tmp_path / "svg", files)
    with pytest.raises(EmojiSetError, match=message):
        build_set(svgs, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", [b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 36', b"", b"\xff\xfe\x00junk"])
def test_a_damaged_svg_is_refused_naming_the_file(tmp_path, damage):
    svgs = write_svgs(tmp_path / "svg", {"1f600.svg": "#ff0000", "2764.svg": "#00ff00"})
    (svgs / "1f525.svg").write_bytes(damage)
    with pytest.raises(EmojiSetError, match=r"1f525\.svg: not a readable SVG \(.+\); repair or remove it$") as e:
        build_set(svgs, tmp_path / "out", progress=False)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_svg_without_resvg_says_what_to_install(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "resvg_py", None)  # import resvg_py now raises ImportError
    svgs = write_svgs(tmp_path / "svg", {"1f600.svg": "#ff0000"})
    with pytest.raises(EmojiSetError, match=r"pic2emoji\[svg\]"):
        build_set(svgs, tmp_path / "out", progress=False)


def test_cli_builds_from_an_svg_folder(tmp_path):
    from click.testing import CliRunner
    from pic2emoji.cli import main
    svgs = write_svgs(tmp_path / "svg", {"1f600.svg": "#ff0000", "e000.svg": "#ffffff"})
    result = CliRunner().invoke(main, ["build-set", str(svgs), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "wrote 1 emoji from 2 SVG files" in result.output and "1 files left out" in result.output
    assert [p.name for p in (tmp_path / "out").glob("*.png")] == ["1f600.png"]
