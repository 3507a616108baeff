"""Benchmark of a video file through `pic2emoji infer` with default options: this checkout against the code
of another commit (by default 25de829, before issue 28), in the same run, runs alternating.

    python benchmarks/video_bench.py                       # 45-frame 320×240 clip, best of 2 each
    python benchmarks/video_bench.py --runs 3 --json
    python benchmarks/video_bench.py --scene subject        # a still camera, something crossing
    python benchmarks/video_bench.py --base /tmp/video-base --commit 25de829
    python benchmarks/video_bench.py --photo dune.jpg --size 640x360 --frames 30 --rate 30   # another clip

The clip is made here, the same every time: examples/photos/coffee.png panned left to right, zoomed in
by 15% and swaying up and down, 45 frames of 320×240 at 15 frames/s, H.264 — a moving camera, so every
cell of the grid changes (the hard case for reusing cells); `--scene subject`, a still camera with the
cat crossing the coffee. Each run is a fresh process (`python -m pic2emoji infer noto clip.mp4 -o
out.mp4`), timed from outside, its peak RSS from os.wait4; the older code runs from a git worktree of
--commit (made with `git worktree add` if --base is not one yet). Prints seconds (best of --runs), the
ratio new/old, the frames, rate and size of both films, and peak RSS; with --fidelity, how faithful this
checkout's film is against converting each frame alone. Figures, never pass/fail: docs/BENCHMARKS.md
("Video") records them with the machine.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTO, CAT = ROOT / "examples" / "photos" / "coffee.png", ROOT / "examples" / "photos" / "chelsea.png"


def make_clip(path: Path, frames: int = 45, size=(320, 240), rate: int = 15, scene: str = "pan",
              photo: Path = PHOTO) -> Path:
    """A deterministic clip. pan: a camera moving over a photo, panned across, zoomed in 15%, swaying up
    and down (every cell changes). subject: a still camera on one photo, another (the cat, 120×80)
    crossing it at 6 px a frame."""
    import av
    image = Image.open(photo).convert("RGB")
    w, h = image.size
    still = image.resize(size, Image.BICUBIC)
    cat = Image.open(CAT).convert("RGB").resize((120, 80), Image.BICUBIC)
    with av.open(str(path), "w") as film:
        stream = film.add_stream("libx264", rate=rate, options={"threads": "1"})  # the same bytes every run
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            t = i / (frames - 1)
            if scene == "pan":
                cw = 0.8 * w * (1 - 0.15 * t)
                ch = cw * size[1] / size[0]
                x, y = (w - cw) * t, min(max((h - ch) * (0.5 + 0.3 * np.sin(np.pi * t)), 0), h - ch)
                frame = image.resize(size, Image.BICUBIC, box=(x, y, x + cw, y + ch))
            else:
                frame = still.copy()
                frame.paste(cat, (round(-40 + 6 * i), round(100 + 20 * np.sin(2 * np.pi * t))))
            film.mux(stream.encode(av.VideoFrame.from_image(frame)))
        film.mux(stream.encode())
    return path


def base_tree(base: Path, commit: str) -> Path:
    """A git worktree of `commit` at `base`, made if it is not there."""
    if not (base / "pic2emoji" / "__init__.py").is_file():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), commit], check=True,
                       stdout=subprocess.DEVNULL)
    return base


def convert(code: Path, clip: Path, out: Path, emoji_set: str) -> dict:
    """One `infer` in a fresh process running the code at `code`: seconds and peak RSS (MB)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "pic2emoji", "infer", emoji_set, str(clip), "-o", str(out),
                              "--overwrite"], env=env, cwd=str(code), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{code}: infer failed ({child.returncode}): {stderr.decode()[-500:]}")
    return {"s": seconds, "rss_mb": usage.ru_maxrss / 1024}


def film_facts(path: Path) -> dict:
    import av
    with av.open(str(path)) as film:
        stream = film.streams.video[0]
        frames = sum(1 for _ in film.decode(stream))
        return {"frames": frames, "rate": float(stream.average_rate), "size": f"{stream.width}x{stream.height}",
                "bytes": path.stat().st_size}


def fidelity(clip: Path, emoji_set: str) -> dict:
    """This checkout's mosaics of the clip, each frame converted alone and steady against the last (as
    before issue 28: the net and refine on every cell) and as a film (Converter.frames): mean dE@2,
    cell-PSNR and SSIM@6 (quality.estimate, from the 6×6 views), the share of cells that changed emoji a
    frame, and the share of cells the two agree on."""
    sys.path.insert(0, str(ROOT))
    from dataclasses import replace
    from pic2emoji.converter import Converter
    from pic2emoji.options import Options
    from pic2emoji.photo import cut_patches
    from pic2emoji.quality import estimate
    from pic2emoji.video import Film
    from pic2emoji.views import view_of
    converter = Converter(emoji_set)
    with Film(clip) as film:
        frames = list(film)
    options = Options("mp4")
    alone, grid = [], None
    for frame in frames:
        cells = converter.cells(frame, options, previous=grid)
        grid, options = cells.grid, replace(options, background=cells.background)
        alone.append(grid)
    film = [cells.grid for cells in converter.frames(frames, Options("mp4"))]
    lookup = converter.refiner(options.background).lookup.blocks

    def scores(grids):
        each = []
        for frame, grid in zip(frames, grids):
            pixels, shape, _ = converter.pixels(frame, options)
            each.append(estimate(view_of(cut_patches(pixels, shape)), lookup[grid.ravel()], shape))
        changed = np.mean([(a != b).mean() for a, b in zip(grids, grids[1:])])
        means = {k: round(float(np.mean([e[k] for e in each])), 4) for k in each[0]}
        return {**means, "changed": round(float(changed), 4)}
    return {"frame by frame": scores(alone), "film": scores(film),
            "same cells": round(float(np.mean([(a == b).mean() for a, b in zip(alone, film)])), 4)}


def main():
    parser = argparse.ArgumentParser(description="Seconds and memory of a video through infer: this checkout "
                                                 "against an older commit, in the same run.")
    parser.add_argument("--set", default="noto", help="emoji set (default: noto)")
    parser.add_argument("--runs", type=int, default=2, help="runs of each, alternating; the best counts (default: 2)")
    parser.add_argument("--commit", default="25de829", help="the older code (default: 25de829, before issue 28)")
    parser.add_argument("--base", default="/tmp/video-base", help="its git worktree, made if missing")
    parser.add_argument("--frames", type=int, default=45, help="frames in the clip (default: 45)")
    parser.add_argument("--size", default="320x240", help="the clip's WxH (default: 320x240)")
    parser.add_argument("--rate", type=int, default=15, help="its frames a second (default: 15)")
    parser.add_argument("--photo", type=Path, default=PHOTO,
                        help="the photo the camera moves over (default: examples/photos/coffee.png)")
    parser.add_argument("--scene", choices=("pan", "subject"), default="pan",
                        help="pan: the camera moves (every cell changes); subject: a still camera, the cat crossing")
    parser.add_argument("--fidelity", action="store_true",
                        help="also the mosaics' fidelity, frame by frame against as a film, in this process")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    codes = {"old": base_tree(Path(args.base), args.commit), "new": ROOT}
    with tempfile.TemporaryDirectory() as temp:
        size = tuple(int(v) for v in args.size.split("x"))
        clip = make_clip(Path(temp) / "clip.mp4", args.frames, size, args.rate, args.scene, args.photo)
        runs = {name: [] for name in codes}
        for _ in range(args.runs):
            for name, code in codes.items():
                runs[name].append(convert(code, clip, Path(temp) / f"{name}.mp4", args.set))
        results = {name: {"s": min(r["s"] for r in runs[name]), "all_s": [round(r["s"], 2) for r in runs[name]],
                          "rss_mb": max(r["rss_mb"] for r in runs[name]), **film_facts(Path(temp) / f"{name}.mp4")}
                   for name in codes}
        source = film_facts(clip)
        if args.fidelity:
            results["fidelity"] = fidelity(clip, args.set)
    results["ratio"] = results["new"]["s"] / results["old"]["s"]
    results["clip"] = source
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"clip ({args.scene} over {args.photo.name}): {source['frames']} frames of {source['size']} at {source['rate']:g} frames/s; "
          f"old = {args.commit}, best of {args.runs}")
    for name in codes:
        r = results[name]
        print(f"{name:4} {r['s']:7.1f} s  (runs {', '.join(f'{s:.1f}' for s in r['all_s'])})  peak RSS "
              f"{r['rss_mb']:6.0f} MB  -> {r['frames']} frames at {r['rate']:g}/s, {r['size']}, "
              f"{r['bytes'] / 1e6:.1f} MB")
    print(f"ratio new/old: {results['ratio']:.2f}")
    for name, figures in results.get("fidelity", {}).items():
        print(f"{name}: {figures}")


if __name__ == "__main__":
    main()
