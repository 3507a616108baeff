"""`train` and `eval`: teach the net which emoji a 36×36 patch looks like, and measure how well it knows.

Batches are made by worker processes (data.Batches: numpy and Pillow, one per spare core) while
tinygrad runs the JIT'd step here, so augmentation and training overlap. Ctrl-C or SIGTERM saves a checkpoint beside the output
(`<model>.ckpt`); `--resume` continues from it. The model file is written only at the end, atomically.
"""
import json
import math
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import Batches, SampleMaker, default_workers
from .emoji_sets import EmojiSet, load_emoji_set, near_duplicates
from .errors import ModelError, OutputError
from .options import TrainConfig
from .modelfile import FORMAT, Model, check_model_fits, load_model, new_model, read_metadata, save_model
from .net import ARCHITECTURES, as_input
from .pixels import to_uint8
from .runtime import Classifier

WARM_STEPS = 3  # steps that compile and capture the JIT'd step, slow once: the bar starts after them


@dataclass
class TrainResult:
    model: Model
    accuracy: float
    steps: int
    seconds: float
    interrupted: bool = False
    history: list = field(default_factory=list)  # (step, loss, accuracy)


def checkpoint_path(out) -> Path:
    return Path(str(out) + ".ckpt")


def classes_of(emoji_set: EmojiSet, config: TrainConfig):
    """Merge look-alikes: returns (labels per emoji, kept files, their chars, {kept file: merged files})."""
    merged_into = near_duplicates(emoji_set, config.background, config.merge_threshold)
    kept = sorted(set(merged_into))
    label_of = {k: i for i, k in enumerate(kept)}
    merged = {}
    for i, k in enumerate(merged_into):
        if i != k:
            merged.setdefault(emoji_set.files[k], []).append(emoji_set.files[i])
    return (np.array([label_of[k] for k in merged_into], np.int32), [emoji_set.files[k] for k in kept],
            [emoji_set.chars[k] for k in kept], merged)


def sample_maker(emoji_set: EmojiSet, config: TrainConfig) -> SampleMaker:
    labels = classes_of(emoji_set, config)[0]
    tiles = to_uint8(emoji_set.on_background(config.background))
    return SampleMaker(tiles, labels, config.background, config)


def held_out_set(maker: SampleMaker, config: TrainConfig):
    return maker.held_out(per_emoji=max(1, math.ceil(config.held_out / len(maker.tiles))))


def init_rows(path, classes) -> np.ndarray | None:
    """Which class of the starting model each of `classes` continues: None where its classes are these
    (the same set), else a row index per class, -1 for a class it lacks (another set names its emoji by
    the same code points). Read from the metadata only, before any work."""
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: cannot start from this file: it is not a pic2emoji model; leave out --init")
    theirs = json.loads(meta.get("classes", "[]"))
    if theirs == list(classes):
        return None
    index = {name: i for i, name in enumerate(theirs)}
    return np.array([index.get(name, -1) for name in classes])


def accuracy(classifier: Classifier, patches, labels) -> tuple[float, np.ndarray]:
    predictions = classifier(patches)
    return float((predictions == labels).mean()), predictions


def make_step(net, optimizer):
    """The JIT'd training step, built per model (a JIT on a method would be shared by every instance)."""
    from tinygrad import Context, Tensor, TinyJit

    @TinyJit
    @Context(TRAINING=1)
    def step(patches: Tensor, labels: Tensor) -> Tensor:
        optimizer.zero_grad()
        loss = net(as_input(patches)).sparse_categorical_crossentropy(labels).backward()
        return loss.realize(*optimizer.schedule_step())
    return step


def learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(emoji_dir, out, config: TrainConfig = TrainConfig(), resume: bool = False, overwrite: bool = False,
          progress: bool = True, log=lambda message: None, workers: int | None = None) -> TrainResult:
    """Train a model for the emoji set and save it to `out` (see the module docstring for Ctrl-C).

    With `resume`, training continues from the checkpoint with the settings it was started with.
    `workers` batch-making processes (default: one per spare core) change the speed, never the result.
    """
    with _sigterm_as_interrupt():  # `kill` or a closed terminal stops training as Ctrl-C does: with a checkpoint
        return _train(emoji_dir, out, config, resume, overwrite, progress, log, workers or default_workers())


def _train(emoji_dir, out, config, resume, overwrite, progress, log, workers) -> TrainResult:
    from tinygrad import Tensor, dtypes
    from tinygrad.nn.optim import Adam
    from tinygrad.nn.state import get_parameters

    out, ckpt = Path(out), checkpoint_path(out)
    if resume and not ckpt.is_file():
        raise ModelError(f"{ckpt}: no checkpoint to resume from; start without --resume")
    if ckpt.is_file() and not (overwrite or resume):
        raise OutputError(f"{ckpt}: an interrupted run left this checkpoint; pass --resume to continue it "
                          "or --overwrite to start over")
    if out.exists() and not (overwrite or resume):
        raise OutputError(f"{out}: a model is already there; pass --overwrite to replace it or -o to write elsewhere")
    emoji_set = load_emoji_set(emoji_dir)
    saved = None
    if config.arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {config.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if resume:
        model, saved = load_model(ckpt, extra=True)
        check_model_fits(model, emoji_set)
        config = TrainConfig.of(model)
    labels, classes, chars, merged = classes_of(emoji_set, config)
    if config.steps is None:
        config = replace(config, steps=min(6000, max(1000, 3 * len(classes))))
    rows = init_rows(config.init, classes) if config.init and not resume else None
    maker = sample_maker(emoji_set, config)
    patches, answers = held_out_set(maker, config)
    first = int(model.training["steps_done"]) if resume else 0

    batches = Batches(maker, first, config.steps, config.batch_size, workers)
    log(f"training {len(classes)} classes ({len(labels) - len(classes)} look-alikes merged) on {_device()}, "
        f"steps {first}-{config.steps}, batches made by {workers} process{'es' * (workers > 1)}; "
        f"compiling the training step first (its first {WARM_STEPS} steps: seconds to minutes, cached for later "
        "runs), then a bar with the time left")

    if not resume:
        model = new_model(config.arch, emoji_set.name, classes, chars, merged, config.background, config.seed)
        if config.init:
            model.net.start_from(load_model(config.init).net, rows)
            if rows is not None:
                log(f"starting from {config.init}: its convolutions, and {(rows >= 0).sum()} of these "
                    f"{len(classes)} classes by name")
    optimizer = Adam(get_parameters(model.net), lr=config.lr)
    moments = optimizer.m + optimizer.v
    if saved:
        state = dict(enumerate(moments)) | {"b1_t": optimizer.b1_t, "b2_t": optimizer.b2_t}
        for key, t in state.items():
            t.assign(Tensor(saved[f"optimizer.{key}"], device=t.device)).realize()
    step_fn, classifier = make_step(model.net, optimizer), Classifier(model.net, len(model.classes))
    earlier = model.training if resume else {}  # a resumed run adds to the history and time of the first
    history, seconds_before = list(earlier.get("history", [])), float(earlier.get("seconds", 0))

    def record(step, loss):
        model.accuracy = accuracy(classifier, patches, answers)[0]
        history.append((step, round(loss, 4), round(model.accuracy, 4)))
        model.training = {"config": asdict(config), "steps_done": step, "history": history, "device": _device(),
                          "seconds": round(seconds_before + time.time() - started, 1), "held_out_samples": len(answers)}

    def save_checkpoint(step, loss):
        record(step, loss)
        extra = {f"optimizer.{i}": t for i, t in enumerate(moments)}
        extra.update({"optimizer.b1_t": optimizer.b1_t, "optimizer.b2_t": optimizer.b2_t})
        save_model(model, ckpt, extra)

    started, done, loss = time.time(), first, float("nan")  # done: steps whose update is in the weights
    bar = None  # made once the step is compiled (WARM_STEPS): its rate, and so its ETA, are the real ones
    try:
        for step in range(first, config.steps):
            x, y = batches.get(step)
            optimizer.lr.assign(Tensor([learning_rate(config, step)], dtype=dtypes.float32)).realize()
            loss = step_fn(Tensor(x, dtype=dtypes.uint8), Tensor(y, dtype=dtypes.int32)).item()
            done = step + 1
            if done % config.eval_every == 0 and done < config.steps:
                save_checkpoint(done, loss)
            if bar is None and progress and (done - first == WARM_STEPS or done == config.steps):
                bar = tqdm(total=config.steps, initial=done, desc="training", unit="step")
            elif bar is not None:
                bar.update(1)
            if bar is not None:  # held-out accuracy once it is measured (every eval_every steps)
                bar.set_postfix(loss=f"{loss:.3f}", **({} if model.accuracy is None else {"held_out": f"{model.accuracy:.1%}"}))
    except KeyboardInterrupt:
        save_checkpoint(done, loss)
        return TrainResult(model, model.accuracy, done, model.training["seconds"], True, history)
    finally:
        if bar is not None:
            bar.close()
        batches.close()
    record(done, loss)
    save_model(model, out)
    ckpt.unlink(missing_ok=True)
    model.path = out
    return TrainResult(model, model.accuracy, done, model.training["seconds"], False, history)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (kill) and SIGHUP (a closed terminal or ssh session) stop training as Ctrl-C does."""
    stops = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {s: signal.signal(s, _raise_interrupt) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _device() -> str:
    from tinygrad import Device
    return Device.DEFAULT


def evaluate(emoji_dir, model_path) -> dict:
    """Top-1 accuracy of a model on its fixed held-out set, and the classes it gets wrong most."""
    emoji_set = load_emoji_set(emoji_dir)
    model = load_model(model_path)
    check_model_fits(model, emoji_set)
    config = TrainConfig.of(model)
    patches, answers = held_out_set(sample_maker(emoji_set, config), config)
    top1, predictions = accuracy(Classifier(model.net, len(model.classes)), patches, answers)
    errors = np.bincount(answers[predictions != answers], minlength=len(model.classes))
    totals = np.bincount(answers, minlength=len(model.classes))
    worst = [{"class": model.classes[c], "char": model.chars[c], "wrong": int(errors[c]), "of": int(totals[c]),
              "mistaken_for": [model.chars[p] or model.classes[p] for p in np.unique(predictions[(answers == c) & (predictions != c)])]}
             for c in np.argsort(-errors, kind="stable")[:10] if errors[c]]
    return {"accuracy": top1, "classes": len(model.classes), "samples": len(answers), "model": str(model_path),
            "emoji_set": str(emoji_set.path), "worst": worst}
