"""Benchmarks: speed, memory and mosaic fidelity, printed as a table (and JSON with --json).

    python benchmarks/bench.py                     # everything, on the shipped noto model
    python benchmarks/bench.py --only net,fidelity
    python benchmarks/bench.py --only ray --photos 200   # a folder here and on Ray (pic2emoji[ray])

Run from a checkout: the speed and fidelity sections use the photos in examples/.

Figures, never pass/fail: docs/BENCHMARKS.md records them with the machine they came from.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

USER_ENV = dict(os.environ)  # before tinygrad sets DEV here: the CLI runs below choose as a user's would

from pic2emoji.data import Batches, default_workers
from pic2emoji.files import shipped_dir
from pic2emoji.converter import Converter
from pic2emoji.options import AUTO, Options
from pic2emoji.photo import cut_patches
from pic2emoji.modelfile import load_model, model_path, new_model
from pic2emoji.quality import fidelity
from pic2emoji.runtime import Classifier
from pic2emoji.train import TrainConfig, classes_of, make_step, sample_maker

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "photos"
SECTIONS = ("data", "train", "net", "cli", "startup", "steady", "memory", "fidelity", "ray")


def machine() -> dict:
    from tinygrad import Device
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    field = lambda name: next((line.split(":", 1)[1].strip() for line in lines if line.startswith(name)), "")
    flags = set(field("flags").split())
    return {"cpu": field("model name") or platform.processor(), "cores": os.cpu_count(), "device": Device.DEFAULT,
            "simd": " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni") if f in flags),
            "python": platform.python_version()}


def timed(fn, repeat: int = 3) -> float:
    """Best of `repeat` wall-clock times, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_data(emoji_set, config) -> dict:
    """Samples/s of one batch maker here, then of the worker pool train uses (data.Batches), 1 worker and
    the default (one per core less one), including the hand-over to this process."""
    maker = sample_maker(emoji_set, config)
    maker.batch(0, config.batch_size)
    seconds = timed(lambda: [maker.batch(i, config.batch_size) for i in range(5)], 2) / 5
    result = {"data_samples_per_s (one process)": round(config.batch_size / seconds)}
    for workers in dict.fromkeys([1, default_workers()]):
        batches = Batches(maker, 0, 10_000, config.batch_size, workers)
        try:
            batches.get(0)  # the workers have started
            start = time.perf_counter()
            for index in range(1, 41):
                batches.get(index)
            result[f"data_samples_per_s ({workers} worker{'s' * (workers > 1)}, pool)"] = \
                round(40 * config.batch_size / (time.perf_counter() - start))
        finally:
            batches.close()
    return result


def bench_steady(converter: Converter, photo: Path, frames: int = 8, noise: float = 4.0) -> dict:
    """Share of cells that change emoji per frame on a still photo with camera-like noise, without and
    with Converter.steady (target of issues 14/15: at most 2%), and how much a real move still changes."""
    rng = np.random.default_rng(0)
    base = np.asarray(Image.open(photo).convert("RGB").resize((576, 432)), np.float32)
    noisy = [Image.fromarray(np.clip(base + rng.normal(0, noise, base.shape), 0, 255).astype(np.uint8))
             for _ in range(frames)]
    result = {}
    for steady in (False, True):
        previous, changed = None, []
        for frame in noisy:
            grid = converter.cells(frame, cols=72, palette="terminal", previous=previous if steady else None).grid
            if previous is not None:
                changed.append((grid != previous).mean())
            previous = grid
        result[f"steady_changed_per_frame ({'steady' if steady else 'plain'}, noise {noise})"] = f"{np.mean(changed):.2%}"
    still, *_ = converter.cells(Image.fromarray(base.astype(np.uint8)), cols=72, palette="terminal")
    moved = Image.fromarray(np.roll(base, 8, axis=1).astype(np.uint8))  # the scene moves by one cell
    fresh, *_ = converter.cells(moved, cols=72, palette="terminal")
    held, *_ = converter.cells(moved, cols=72, palette="terminal", previous=still)
    result["steady_moved_one_cell (plain / steady cells changed)"] = f"{(fresh != still).mean():.1%} / {(held != still).mean():.1%}"
    return result


def bench_train(emoji_set, config) -> dict:
    from tinygrad import Tensor, dtypes
    from tinygrad.nn.optim import Adam
    from tinygrad.nn.state import get_parameters
    labels, classes, chars, merged = classes_of(emoji_set, config)
    model = new_model(config.arch, emoji_set.name, classes, chars, merged, config.background)
    step = make_step(model.net, Adam(get_parameters(model.net), lr=1e-3))
    x, y = sample_maker(emoji_set, config).batch(0, config.batch_size)
    start = time.perf_counter()
    for _ in range(3):  # TinyJit captures on the second call
        step(Tensor(x, dtype=dtypes.uint8), Tensor(y, dtype=dtypes.int32)).item()
    compile_s = time.perf_counter() - start
    seconds = timed(lambda: [step(Tensor(x, dtype=dtypes.uint8), Tensor(y, dtype=dtypes.int32)).item() for _ in range(10)], 2) / 10
    return {"train_first_steps_s": round(compile_s, 1), "train_steps_per_s": round(1 / seconds, 2),
            "train_samples_per_s": round(config.batch_size / seconds)}


def bench_net(converter: Converter, tune: bool = False, baseline: Path | None = None) -> dict:
    """Patches per second, JIT warm: of tinygrad's default kernels (and those of a baseline model, e.g.
    the seed net, in the same process), then of the net as infer and serve run it (from the cache:
    tuned if `pic2emoji tune` ran, or with --tune now)."""
    model, result = converter.model, {}
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (54 * 72, 36, 36, 3), dtype=np.uint8)

    def default_kernels(model):
        classifier = Classifier(model.net, len(model.classes))
        classifier.warm_up()
        return round(len(frame) / timed(lambda: classifier(frame), 5))
    ours = result[f"net_patches_per_s (54x72 grid, 3888 patches, {model.arch}, default kernels)"] = \
        default_kernels(load_model(model.path))
    if baseline:
        seed = load_model(baseline)
        theirs = result[f"net_patches_per_s (54x72 grid, baseline {baseline.name}: {seed.arch}, default kernels)"] = default_kernels(seed)
        result["net_speed_ratio (model / baseline)"] = round(ours / theirs, 2)
    if tune:
        converter.classifier.tune(2)
    classifier = converter.classifier
    classifier.warm_up()
    result["net_tuned"] = classifier.tuned or "no (pic2emoji tune, or --tune here)"
    for label, count in (("54x72 grid", 54 * 72), ("1 MP photo", 1_000_000 // 36 ** 2), ("100 MP photo", 100_000_000 // 36 ** 2)):
        patches = frame if count == len(frame) else rng.integers(0, 256, (count, 36, 36, 3), dtype=np.uint8)
        seconds = timed(lambda: classifier(patches), 5 if count < 10_000 else 1)
        result[f"net_patches_per_s ({label}, {count} patches)"] = round(count / seconds)
    return result


def _cli(*args, env=None) -> float:
    start = time.perf_counter()
    env = env or USER_ENV
    subprocess.run([sys.executable, "-m", "pic2emoji", *map(str, args)], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_cli(set_name: str, photo: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cold_env = {**USER_ENV, "CACHEDB": str(tmp / "empty-cache.db"), "PIC2EMOJI_CACHE_DIR": str(tmp / "empty")}
        cold = _cli("infer", set_name, photo, "-o", tmp / "cold.png", env=cold_env)
        warm_png = min(_cli("infer", set_name, photo, "-o", tmp / f"w{i}.png", "--cols", 72) for i in range(3))
        warm_txt = min(_cli("infer", set_name, photo, "-o", tmp / f"w{i}.txt", "--cols", 72) for i in range(3))
        batch = _cli("infer", set_name, folder_of_photos(tmp / "photos", 20), "-o", tmp / "out")
        from tinygrad import Device  # the same folder with the net on tinygrad's device (where no GPU is, it ran in numpy)
        device = _cli("infer", set_name, tmp / "photos", "-o", tmp / "out2", env={**USER_ENV, "DEV": Device.DEFAULT})
    return {"cli_png_72_cols_warm_s": round(warm_png, 3), "cli_txt_72_cols_warm_s": round(warm_txt, 3),
            "cli_png_cold_cache_s": round(cold, 1), "cli_batch_photos_per_s (20 photos, one process)": round(20 / batch, 2),
            f"cli_batch_photos_per_s, DEV={Device.DEFAULT}": round(20 / device, 2)}


def folder_of_photos(folder: Path, count: int) -> Path:
    """`count` photos in a new folder: the examples, each turned a quarter more on every round."""
    folder.mkdir()
    base = [Image.open(p).convert("RGB") for p in sorted(EXAMPLES.iterdir())]
    for i in range(count):
        image = base[i % len(base)].rotate(90 * (i // len(base) % 4), expand=True)
        image.save(folder / f"photo{i:03d}.jpg", quality=90)
    return folder


def bench_ray(converter: Converter, count: int) -> dict:
    """Photos/s of a folder converted here (convert_all's local engine) and on a Ray instance started on
    this machine (issue 17: one worker per core, each with its own Converter), 72 columns, PNG, in one
    process. Ray's start-up is timed apart; the workers' (each loads the set and its net) is in the run."""
    from pic2emoji.batch import convert_all
    from pic2emoji.cluster import RayEngine
    import ray
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = folder_of_photos(tmp / "photos", count)
        convert_all(converter, [photos / "photo000.jpg"], tmp / "warm")  # the caches (the net, refine's tiles) made
        start = time.perf_counter()
        convert_all(converter, [photos], tmp / "local")
        local = time.perf_counter() - start
        start = time.perf_counter()
        ray.init("local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        started = time.perf_counter() - start
        try:
            start = time.perf_counter()
            convert_all(converter, [photos], tmp / "ray", engine=RayEngine())
            on_ray = time.perf_counter() - start
            workers = int(ray.cluster_resources().get("CPU", 0))
        finally:
            ray.shutdown()
        same = files_of(tmp / "local") == files_of(tmp / "ray")
    return {f"ray_local_engine_photos_per_s ({count} photos, 72 columns, png)": round(count / local, 2),
            f"ray_engine_photos_per_s ({workers} workers, their start-up included)": round(count / on_ray, 2),
            "ray_start_s (a local instance)": round(started, 1), "ray_same_files_as_local": same}


def files_of(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def bench_startup(converter: Converter, photo: Path, runs: int = 7) -> dict:
    """One photo to a 72-column PNG of 32 px tiles, warm caches: pic2emoji against metapixel (Debian's
    `metapixel`, the classic photomosaic tool, `-d 0`: no spacing rule) on the same tiles, same process."""
    if not shutil.which("metapixel"):
        return {"startup": "metapixel is not installed (apt-get install metapixel)"}
    median = lambda times: float(np.median(times))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tiles").mkdir()
        faces = converter.renderer.faces(np.arange(len(converter.texts)), 32)  # the tiles on the background
        for i, face in enumerate(faces):
            Image.fromarray(face).save(tmp / "tiles" / f"{i:04d}.png")
        (tmp / "library").mkdir()
        subprocess.run(["metapixel-prepare", "--width=32", "--height=32", tmp / "tiles", tmp / "library"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        image = Image.open(photo).convert("RGB")
        rows = round(72 * image.height / image.width)
        image.resize((72 * 32, rows * 32), Image.LANCZOS).save(tmp / "photo.png")  # metapixel: one tile per 32 px

        def metapixel():
            start = time.perf_counter()
            subprocess.run(["metapixel", "-w", "32", "-h", "32", "-l", tmp / "library", "-d", "0", "--metapixel",
                            tmp / "photo.png", tmp / "theirs.png"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            return time.perf_counter() - start
        ours = [_cli("infer", converter.emoji_set.path, photo, "-o", tmp / f"ours{i}.png", "--cols", 72)
                for i in range(runs + 1)][1:]  # the first run warms the caches
        theirs = [metapixel() for _ in range(runs + 1)][1:]
        assert Image.open(tmp / "ours1.png").size == Image.open(tmp / "theirs.png").size
    return {"startup_pic2emoji_png_72_cols_s (median)": round(median(ours), 3),
            "startup_metapixel_d0_png_72_cols_s (median)": round(median(theirs), 3),
            "startup_ratio (pic2emoji / metapixel, target <= 1.2, compass 0.7)": round(median(ours) / median(theirs), 2)}


def bench_memory(set_name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "50mp.jpg"
        y, x = np.mgrid[0:5774, 0:8660]
        pixels = np.stack([(x * 255 // 8660), (y * 255 // 5774), ((x + y) % 256)], -1).astype(np.uint8)
        Image.fromarray(pixels).save(photo, quality=85)
        del pixels, x, y
        code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "pic2emoji", "infer", set_name,
                              str(photo), "-o", str(Path(tmp) / "m.png")], capture_output=True, text=True, check=True)
    return {"peak_rss_50mp_jpeg_mb": round(int(out.stdout) / 1024)}


def fidelity_photos(folder: Path | None = None) -> dict:
    """The photos of docs/QUALITY.md, by name: examples/ and scikit-image's and scikit-learn's bundled
    ones (no download): faces, animals, landscapes, saturated and dark scenes. With `folder`, every
    picture in it instead (photos the tuning never saw)."""
    if folder is not None:
        return {p.stem: Image.open(p).convert("RGB") for p in sorted(folder.iterdir()) if p.is_file()}
    from skimage import data
    from sklearn.datasets import load_sample_images
    china, flower = load_sample_images().images
    photos = {p.stem: Image.open(p).convert("RGB") for p in sorted(EXAMPLES.iterdir())}  # astronaut, chelsea, coffee, rocket
    photos.update({"china": Image.fromarray(china), "flower": Image.fromarray(flower),
                   "hubble": Image.fromarray(data.hubble_deep_field()),
                   "immunohisto": Image.fromarray(data.immunohistochemistry())})
    return photos


def bench_fidelity(converter: Converter, photos: dict, cols: int = 72, palettes=("all", "terminal")) -> dict:
    """dE@2, dE@1, cell-PSNR, SSIM@6 and distinct emoji of each method's mosaic, and the ms refine takes
    beyond the net (best of 3), per photo and palette. Pictures (palette all) are made as infer makes
    them, on the background `auto` chooses (the lookup on the same one, the net on the model's, which it
    knows); where that is not the model's grey, also lookup and refine on grey ("lookup@grey",
    "refine@grey"). Text (palette terminal) is chosen for the model's grey."""
    table, grey = {}, tuple(converter.model.background)
    for name, image in photos.items():
        pixels, shape, _ = converter.pixels(image, Options(cols=cols))
        for palette in palettes:
            allowed = converter.allowed(palette)
            background = converter.pixels(pixels, Options(palette=palette, background=AUTO))[2] if palette == "all" else grey
            runs = [("lookup", "lookup", background), ("net", "net", grey), ("refine", "refine", background)]
            if background != grey:
                runs += [("lookup@grey", "lookup", grey), ("refine@grey", "refine", grey)]
            row = {}
            for label, method, behind in runs:
                grid = converter.grid(pixels, Options(palette=palette, method=method, background=behind))
                mosaic = np.asarray(converter.image(grid, 36, behind))
                row[label] = {**fidelity(pixels, mosaic, shape), "distinct": int(len(np.unique(grid))), "background": behind[0]}
            patches, refiner = cut_patches(pixels, shape), converter.refiner(background)
            start = converter.classifier(patches, allowed)
            row["refine"]["added_ms"] = round(1000 * timed(lambda: refiner(patches, shape, start, allowed)))
            table[f"{name} ({palette})"] = row
    return table


def meets_targets(table: dict, baseline: str = "lookup") -> dict:
    """How many mosaics meet issue 13's targets against the lookup (on the same background, or with
    baseline="lookup@grey" on grey where the picture's is another): dE@2 <= 0.90x, SSIM@6 >= -0.01,
    cell-PSNR >= -0.3 dB, and all three."""
    count = {"de2 <= 0.90 x lookup": 0, "ssim6 >= lookup - 0.01": 0, "cell_psnr >= lookup - 0.3": 0, "all three": 0,
             "of": len(table)}
    for row in table.values():
        ours, theirs = row["refine"], row.get(baseline, row["lookup"])
        met = (ours["de2"] <= 0.9 * theirs["de2"], ours["ssim6"] >= theirs["ssim6"] - 0.01,
               ours["cell_psnr"] >= theirs["cell_psnr"] - 0.3)
        for key, ok in zip(list(count)[:3], met):
            count[key] += ok
        count["all three"] += all(met)
    return count


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="noto", help="emoji set (its shipped or trained model is used)")
    parser.add_argument("--model", default=None, help="model file  [default: the set's]")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--photos", type=int, default=20, help="photos in the folder the ray section converts")
    parser.add_argument("--fidelity-photos", type=Path, default=None, metavar="FOLDER",
                        help="measure fidelity on the pictures in this folder instead of the eight of docs/QUALITY.md")
    parser.add_argument("--tune", action="store_true", help="tune the net first (as `pic2emoji tune`: minutes, once)")
    parser.add_argument("--baseline", default=None, help="model whose net speed to compare with  [default: the "
                        "shipped <set>-tinyconv model, the seed net, if there is one]")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    results = {"machine": machine()}
    print(" | ".join(f"{k}: {v}" for k, v in results["machine"].items()))
    converter = Converter(args.set, args.model or model_path(args.set))
    config = TrainConfig.of(converter.model)
    photos = sorted(EXAMPLES.iterdir())
    seed = shipped_dir("models") / f"{Path(converter.model.path).stem}-tinyconv.safetensors"
    baseline = Path(args.baseline) if args.baseline else seed if seed.is_file() else None
    steps = {"data": lambda: bench_data(converter.emoji_set, config), "train": lambda: bench_train(converter.emoji_set, config),
             "net": lambda: bench_net(converter, args.tune, baseline), "cli": lambda: bench_cli(args.set, photos[0]),
             "startup": lambda: bench_startup(converter, next(p for p in photos if p.name == "chelsea.png")),
             "steady": lambda: bench_steady(converter, next(p for p in photos if p.name == "chelsea.png")),
             "memory": lambda: bench_memory(args.set), "fidelity": lambda: bench_fidelity(converter, fidelity_photos(args.fidelity_photos)),
             "ray": lambda: bench_ray(converter, args.photos)}
    for section in SECTIONS:
        if section not in only:
            continue
        results[section] = steps[section]()
        if section == "fidelity":
            print(f"{'photo':24} {'':11} {'behind':>6} {'dE@2':>6} {'dE@1':>6} {'cell-PSNR':>9} {'SSIM@6':>7} {'distinct':>8}")
            for photo, row in results[section].items():
                for name, m in row.items():
                    print(f"{photo:24} {name:11} {m['background']:6d} {m['de2']:6.2f} {m['de1']:6.2f} {m['cell_psnr']:9.2f} "
                          f"{m['ssim6']:7.4f} {m['distinct']:8d}" + (f"  +{m['added_ms']} ms" if "added_ms" in m else ""))
            for palette in ("all", "terminal"):
                rows = {k: v for k, v in results[section].items() if k.endswith(f"({palette})")}
                results[f"fidelity_targets_{palette}"] = meets_targets(rows)
                print(f"targets met, palette {palette}, against the lookup on the same background:",
                      results[f"fidelity_targets_{palette}"])
                if palette == "all":
                    results["fidelity_targets_all_vs_grey"] = meets_targets(rows, "lookup@grey")
                    print("targets met, palette all, against the lookup on grey:", results["fidelity_targets_all_vs_grey"])
        else:
            for key, value in results[section].items():
                print(f"{key:55} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
