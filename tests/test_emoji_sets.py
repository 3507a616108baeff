import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from pic2emoji.emoji_sets import (char_to_name, emoji_shortcode, find_emoji_set, is_terminal_safe, load_emoji_set,
                                  name_to_char, near_duplicates, prints_aligned, shipped_sets, stem_shortcode)
from pic2emoji.errors import EmojiSetError

ROUND_TRIP = ["😀", "❤️", "👨‍👩‍👧", "🇷🇴", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🧑🏽‍🚀", "🙂‍↔️", "©️"]


@pytest.mark.parametrize("char", ROUND_TRIP)
def test_name_round_trips_exactly(char):
    name = char_to_name(char)
    assert name == name.lower() and " " not in name
    assert name_to_char(name) == char


def test_name_examples():
    assert char_to_name("❤️") == "2764-fe0f"
    assert char_to_name("👨‍👩‍👧") == "1f468-200d-1f469-200d-1f467"
    assert char_to_name("#️⃣") == "23-fe0f-20e3"


@pytest.mark.parametrize("stem, char", [
    ("1f468_200d_1f469_200d_1f467", "👨‍👩‍👧"),       # underscores
    ("emoji_u1f600", "😀"),                            # Noto's own names
    ("emoji_u0023_20e3", "#⃣"),                        # Noto drops FE0F
    ("anger-symbol_1f4a2", "💢"),                      # emojipedia
    ("red-heart_2764-fe0f", "❤️"),
    ("cafe_1f600", "😀"),                              # "cafe" is hex, but not an emoji
    ("1F600", "😀"),
])
def test_name_variants(stem, char):
    assert name_to_char(stem) == char


@pytest.mark.parametrize("stem", ["logo", "my-emoji", "smile_face", "zzz_110000",
                                  "a", "face", "dad", "ship_it"])  # not U+000A, U+FACE, U+0DAD
def test_names_without_emoji(stem):
    assert name_to_char(stem) is None


def test_terminal_safe():
    assert is_terminal_safe("😀") and not is_terminal_safe("❤️") and not is_terminal_safe("👨‍👩‍👧")
    assert not is_terminal_safe("\u2764") and not is_terminal_safe(None)


def _write(folder, name, image):
    image.save(folder / name)


def test_loads_any_mode_size_and_format(tmp_path):
    rgba = Image.new("RGBA", (100, 60), (255, 0, 0, 255))
    _write(tmp_path, "1f600.png", rgba)
    _write(tmp_path, "1f601.gif", Image.new("P", (30, 30), 3))
    la = Image.new("LA", (16, 16), (200, 128))
    _write(tmp_path, "1f602.png", la)
    _write(tmp_path, "1f603.bmp", Image.new("L", (50, 50), 90))
    _write(tmp_path, "1f604.webp", Image.new("RGB", (72, 72), (0, 0, 255)))
    p = Image.new("P", (20, 20), 0)
    p.info["transparency"] = 0
    _write(tmp_path, "emoji_u1f605.png", p)
    (tmp_path / "notes.txt").write_text("not an emoji")
    (tmp_path / "ATTRIBUTION.md").write_text("x")
    s = load_emoji_set(tmp_path)
    assert s.images.shape == (6, 72, 72, 4) and s.images.dtype == np.uint8
    assert s.files == sorted(s.files)
    assert s.chars == ["😀", "😁", "😂", "😃", "😄", "😅"]
    red = s.images[0]
    # 100×60 is padded to a square, not stretched: transparent bands above and below
    assert red[0, 36, 3] == 0 and red[36, 36, 3] == 255 and tuple(red[36, 36, :3]) == (255, 0, 0)
    assert (s.images[5, ..., 3] == 0).all()  # palette transparency kept
    assert s.images[2, 36, 36, 3] == 128      # LA alpha kept


def test_custom_tiles_print_as_shortcodes_of_their_names(tmp_path):
    for name in ["party_parrot.gif", "Blob Cat.png", "ship-it.webp", "1f600.png"]:
        _write(tmp_path, name, Image.new("RGB", (8, 8)))
    s = load_emoji_set(tmp_path)
    assert s.files == ["1f600.png", "Blob Cat.png", "party_parrot.gif", "ship-it.webp"]
    assert s.chars == ["😀", None, None, None]
    assert [s.text(i) for i in range(4)] == ["😀", ":blob_cat:", ":party_parrot:", ":ship-it:"]
    assert [s.shortcode(i) for i in range(4)] == [":grinning:", ":blob_cat:", ":party_parrot:", ":ship-it:"]


@pytest.mark.parametrize("stem, shortcode", [
    ("party_parrot", ":party_parrot:"), ("Blob Cat", ":blob_cat:"), ("café--au lait!", ":cafe--au_lait:"),
    ("+1", ":+1:"), ("猫", ":732b:"),  # no Latin letters: its code points, still one shortcode per file
])
def test_stem_shortcodes_are_what_chats_accept(stem, shortcode):
    assert stem_shortcode(stem) == shortcode


@pytest.mark.parametrize("char, shortcode", [
    ("😀", ":grinning:"), ("👍", ":thumbsup:"), ("❤️", ":heart:"), ("\u2764", ":heart:"),  # FE0F or not
    ("#⃣", ":hash:"), ("🟥", ":red_square:"),  # no alias: the English name
])
def test_emoji_shortcodes_are_the_common_ones(char, shortcode):
    assert emoji_shortcode(char) == shortcode


def test_an_emoji_newer_than_the_data_has_no_shortcode_and_keeps_its_file_name(tmp_path):
    assert emoji_shortcode("\U0010fff0") is None
    _write(tmp_path, "10fff0.png", Image.new("RGB", (8, 8)))  # private use: named like an emoji, unknown
    s = load_emoji_set(tmp_path)
    assert s.chars == ["\U0010fff0"] and s.shortcode(0) == ":10fff0:"


def test_terminal_palette_keeps_safe_emoji_and_plain_text():
    assert prints_aligned("😀") and prints_aligned(":blob_cat:") and prints_aligned("<:parrot:1234>")
    assert not prints_aligned("❤️") and not prints_aligned("👨‍👩‍👧") and not prints_aligned("猫")


def test_names_json_overrides_the_texts_of_any_tile(tmp_path):
    for name in ["party_parrot.gif", "blob_cat.png", "1f600.png"]:
        _write(tmp_path, name, Image.new("RGB", (8, 8)))
    names = {"party_parrot.gif": ":partyparrot:", "1f600.png": "<:grin:1234>", "blob_cat.png": "🐱"}
    (tmp_path / "names.json").write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
    s = load_emoji_set(tmp_path)
    assert s.names == names and len(s) == 3  # names.json is not a tile
    assert [s.text(i) for i in range(3)] == ["<:grin:1234>", "🐱", ":partyparrot:"]
    assert [s.shortcode(i) for i in range(3)] == ["<:grin:1234>", "🐱", ":partyparrot:"]


@pytest.mark.parametrize("content, message", [
    ('{"a.png": ":a:",', "not valid JSON (Expecting"),
    (b"\xff\xfe\x00junk", "not valid JSON (not UTF-8)"),
    ('[":a:"]', "must be one JSON object of file name -> text"),
    ('{"a": ":a:"}', "'a' is not an image of this folder; give a file name with its extension"),
    ('{"a.png": 7}', "the text for 'a.png' must be a non-empty string on one line"),
    ('{"a.png": " "}', "the text for 'a.png' must be a non-empty string"),
    ('{"a.png": ":a:\\n:b:"}', "on one line"),
])
def test_a_bad_names_json_is_named_with_how_to_fix_it(tmp_path, content, message):
    _write(tmp_path, "a.png", Image.new("RGB", (8, 8)))
    names = tmp_path / "names.json"
    names.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(EmojiSetError) as raised:
        load_emoji_set(tmp_path, lazy=True)
    assert str(raised.value).startswith(f"{names}: ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_names_json_may_start_with_a_byte_order_mark(tmp_path):
    _write(tmp_path, "a.png", Image.new("RGB", (8, 8)))
    (tmp_path / "names.json").write_text('{"a.png": ":ay:"}', encoding="utf-8-sig")
    assert load_emoji_set(tmp_path).text(0) == ":ay:"


def test_class_order_is_sorted_file_names(tmp_path):
    for name in ["1f7e9.png", "1f600.png", "1f34e.png"]:
        _write(tmp_path, name, Image.new("RGB", (8, 8)))
    assert load_emoji_set(tmp_path).files == ["1f34e.png", "1f600.png", "1f7e9.png"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: d / "missing", "does not exist"),
    (lambda d: d, "no emoji images"),
    (lambda d: (d / "a.txt").write_text("x") and d, "no emoji images"),
])
def test_bad_folders(tmp_path, setup, message):
    with pytest.raises(EmojiSetError, match=message):
        load_emoji_set(setup(tmp_path))


def test_a_corrupt_image_is_named(tmp_path):
    _write(tmp_path, "1f600.png", Image.new("RGB", (8, 8)))
    (tmp_path / "1f601.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(EmojiSetError, match=r"1f601\.png: not a readable image"):
        load_emoji_set(tmp_path)


def test_two_files_for_one_emoji_are_refused(tmp_path):
    _write(tmp_path, "1f600.png", Image.new("RGB", (8, 8)))
    _write(tmp_path, "emoji_u1f600.png", Image.new("RGB", (8, 8)))
    with pytest.raises(EmojiSetError, match="same emoji"):
        load_emoji_set(tmp_path)


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(EmojiSetError, match="not a folder"):
        load_emoji_set(tmp_path / "x.png")


def test_near_duplicates_merge_look_alikes_only(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (72, 72, 4), dtype=np.uint8)
    base[..., 3] = 255
    twin = np.clip(base.astype(int) + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
    twin[..., 3] = 255
    _write(tmp_path, "1f600.png", Image.fromarray(base))
    _write(tmp_path, "1f601.png", Image.fromarray(twin))
    _write(tmp_path, "1f602.png", Image.new("RGBA", (72, 72), (255, 0, 0, 255)))
    _write(tmp_path, "1f603.png", Image.new("RGBA", (72, 72), (0, 0, 255, 255)))
    assert near_duplicates(load_emoji_set(tmp_path)) == [0, 0, 2, 3]


def test_noto_near_duplicates_are_few_and_true():
    s = load_emoji_set("noto")
    merged = near_duplicates(s)
    pairs = {(s.chars[i], s.chars[k]) for i, k in enumerate(merged) if i != k}
    assert 20 < len(pairs) < 80
    assert ("🕒", "🕑") in pairs or ("🕑", "🕒") in pairs      # clock faces look alike at 12×12
    assert all(("👨", "👩") != p for p in pairs)                 # man and woman stay apart


def test_shipped_sets_are_found_by_name():
    assert {"noto", "noto-small"} <= set(shipped_sets())
    assert find_emoji_set("noto").is_dir()
    small = load_emoji_set("noto-small")
    assert len(small) == 200 and all(is_terminal_safe(c) for c in small.chars)
    noto = load_emoji_set("emoji_sets/noto")
    assert 1850 <= len(noto) <= 1950 and noto.name == "noto"
    assert not any(set(c) & {chr(x) for x in range(0x1F3FB, 0x1F400)} for c in noto.chars)  # no skin tones



@pytest.mark.parametrize("name, licence", [("twemoji", "CC BY 4.0"), ("openmoji", "CC BY-SA 4.0")])
def test_twemoji_and_openmoji_are_shipped_with_their_licence_and_a_model_for_them(name, licence):
    from pic2emoji.modelfile import check_model_fits, load_model, model_path
    emoji_set = load_emoji_set(name)
    assert 1850 <= len(emoji_set) <= 1950 and all(c for c in emoji_set.chars)  # every file names its emoji
    assert not any(set(c) & {chr(x) for x in range(0x1F3FB, 0x1F400)} for c in emoji_set.chars)  # no skin tones
    assert licence in (emoji_set.path / "ATTRIBUTION.md").read_text() and (emoji_set.path / "LICENSE").is_file()
    model = load_model(model_path(name), weights=False)
    check_model_fits(model, emoji_set)  # the shipped model is this set's, class for class
    assert model.arch == "tinyconv-r64" and model.accuracy >= 0.97


@pytest.mark.slow
@pytest.mark.parametrize("name", ["twemoji", "openmoji"])
def test_twemoji_and_openmoji_make_pictures_and_shortcodes(name, tmp_path):
    """What a clean clone does: `infer twemoji photo.jpg -o x.png` and `--format shortcodes`, with the
    shipped model; the picture is drawn in the set's tiles and its shortcodes are the common ones."""
    from conftest import halves, run
    photo = halves(tmp_path / "photo.jpg", (230, 30, 30), (30, 60, 230), size=(240, 180))
    picture = run("infer", name, photo, "-o", tmp_path / "x.png", "--cols", 8)
    assert picture.exit_code == 0, picture.output
    mosaic = np.asarray(Image.open(tmp_path / "x.png").convert("RGB")).astype(int)
    from pic2emoji.defaults import TILE_PX
    assert mosaic.shape == (6 * TILE_PX, 8 * TILE_PX, 3)
    top, bottom = mosaic[:2 * TILE_PX].reshape(-1, 3).mean(0), mosaic[4 * TILE_PX:].reshape(-1, 3).mean(0)
    assert top[0] > top[2] + 30 and bottom[2] > bottom[0] + 30, (top, bottom)  # reds above, blues below (OpenMoji's are paler)
    text = run("infer", name, photo, "--cols", 8, "--format", "shortcodes")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == 6, text.output
    codes = [c for line in text.stdout.splitlines() for c in line.strip(":").split("::")]
    assert len(codes) == 48 and all(c and c.replace("_", "").replace("-", "").replace("+", "").isalnum() for c in codes), codes

JOINERS = {"\u200d", "\ufe0f", *map(chr, range(0xE0020, 0xE0080))}  # parts of emoji sequences
UNSAFE = [0x1B, 0x07, 0x0A, 0x0D, 0x7F, 0x85, 0x9B, 0x200B, 0x200E, 0x202E, 0x2066, 0x2028, 0x2029, 0xFEFF, 0x20]
# a custom set's hex-style names: code points anywhere, some that act on a terminal, ending in an emoji's
hex_names = st.lists(st.one_of(st.sampled_from(UNSAFE), st.integers(0x21, 0x2FF), st.sampled_from([0x1F603, 0x200D])),
                     min_size=1, max_size=5).map(lambda cps: "-".join(f"{c:x}" for c in [*cps, 0x1F600]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stem=hex_names)
def test_a_name_that_would_act_on_a_terminal_is_refused_in_one_line(tmp_path_factory, stem):
    folder = tmp_path_factory.mktemp("set")
    _write(folder, f"{stem}.png", Image.new("RGB", (8, 8)))
    try:
        emoji_set = load_emoji_set(folder, lazy=True)
    except EmojiSetError as e:
        assert str(e).startswith(str(folder / f"{stem}.png")) and "\n" not in str(e) and "rename" in str(e)
        return
    for text in (emoji_set.text(0), emoji_set.shortcode(0)):  # nothing that moves the cursor, rings or hides text
        assert all(c.isprintable() or c in JOINERS for c in text), (stem, text)


@pytest.mark.parametrize("stem", ["1b-5d-30-3b-74-69-74-6c-65-7-1f603", "a-1f600", "202e-1f600", "20-1f600"])
def test_the_reported_names_are_refused(tmp_path, stem):
    _write(tmp_path, f"{stem}.png", Image.new("RGB", (8, 8)))
    with pytest.raises(EmojiSetError, match=r"decodes to U\+"):
        load_emoji_set(tmp_path, lazy=True)


@pytest.mark.parametrize("text", ["\x1b]0;pwned\x07", ":a:\u202e", "a\u2028b", "\u200b"])
def test_names_json_refuses_texts_that_act_on_a_terminal(tmp_path, text):
    _write(tmp_path, "a.png", Image.new("RGB", (8, 8)))
    (tmp_path / "names.json").write_text(json.dumps({"a.png": text}), encoding="utf-8")
    with pytest.raises(EmojiSetError, match="without control or format characters"):
        load_emoji_set(tmp_path, lazy=True)


def test_names_that_differ_only_in_case_are_refused(tmp_path):
    _write(tmp_path, "party.png", Image.new("RGB", (8, 8)))
    _write(tmp_path, "PARTY.png", Image.new("RGB", (8, 8), "red"))
    with pytest.raises(EmojiSetError, match=r"party\.png: prints as :party: like PARTY\.png; rename one"):
        load_emoji_set(tmp_path, lazy=True)
    (tmp_path / "names.json").write_text('{"PARTY.png": ":party2:"}', encoding="utf-8")
    assert [load_emoji_set(tmp_path, lazy=True).text(i) for i in range(2)] == [":party2:", ":party:"]
    assert "👨‍👩‍👧" in [load_emoji_set(_family(tmp_path), lazy=True).text(0)]  # a ZWJ inside an emoji is fine


def _family(tmp_path):
    folder = tmp_path / "family"
    folder.mkdir()
    _write(folder, f"{char_to_name('👨‍👩‍👧')}.png", Image.new("RGB", (8, 8)))
    return folder
