"""Batches on Ray (cluster.py): the same files and report as the local engine, a killed worker's photo
tried again, an OUT_DIR the workers cannot write refused, Ctrl-C stopping the workers.

One local Ray instance of 2 CPUs serves the whole module (it takes seconds to start); its workers run
tests/ray_faults.py, whose faults stay off unless a test leaves a marker for them.
"""
import logging
import os
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from pic2emoji.batch import convert_all
from pic2emoji.convert import Options
from pic2emoji.errors import ClusterError

from conftest import assert_names_shown_escaped, halves, hostile_photos, needs, one_line_error, run, solid
from ray_faults import READ_ONLY

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def ray_instance(faults):
    ray = needs("ray")
    ray.init("local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]),
                                       "PIC2EMOJI_TEST_FAULTS": str(faults)},
                          "worker_process_setup_hook": "ray_faults.install"})
    yield ray
    ray.shutdown()


@pytest.fixture
def engine(ray_instance):
    from pic2emoji.cluster import RayEngine
    return RayEngine()  # joins the module's instance, and leaves it running


@pytest.fixture
def photos(tmp_path):
    """A few small photos in a folder and a subfolder, an animation, and one that is not a photo at all."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    solid(folder / "a.png", (220, 30, 30))
    solid(folder / "b.jpg", (30, 60, 230))
    halves(folder / "sub" / "c.png", (230, 40, 40), (40, 70, 220))
    solid(folder / "d.webp", (40, 190, 60))
    frames = [Image.new("RGB", (48, 36), colour) for colour in ((220, 30, 30), (30, 60, 230))]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    (folder / "bad.png").write_bytes(b"not a png")
    return folder


def files_in(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def relative(report) -> tuple:
    """A report with its mosaics relative to its folder, to compare two runs into two folders."""
    rel = lambda paths: [p.relative_to(report.out_dir).as_posix() for p in paths]
    return rel(report.converted), rel(report.skipped), [(p, why.replace(str(report.out_dir), "OUT"))
                                                        for p, why in report.failed]


def test_ray_writes_the_same_files_and_report_as_the_local_engine(converter, engine, photos, tmp_path):
    errors = {"local": [], "ray": []}
    for option in ({}, {"skip_existing": True}, {"overwrite": True}, {}):  # fresh; kept; replaced; refused
        reports = {name: convert_all(converter, [photos], tmp_path / name, Options(cols=3), **option,
                                     on_error=errors[name].append, engine=engine if name == "ray" else None)
                   for name in ("local", "ray")}
        assert relative(reports["local"]) == relative(reports["ray"]), option
        assert files_in(tmp_path / "local") == files_in(tmp_path / "ray")
    first = relative(reports["local"])
    assert first[0] == [] and [p.name for p, _ in first[2]][:1] == ["a.png"]  # refused: already exists
    said = {name: sorted(e.replace(str(tmp_path / name), "OUT") for e in errors[name]) for name in errors}
    assert said["local"] == said["ray"] and any("bad.png: not a readable image" in e for e in errors["ray"])
    assert sorted(files_in(tmp_path / "ray")) == ["a.png", "b.png", "d.png", "moving.png", "sub/c.png"]


def test_the_cli_on_ray_says_what_the_local_run_says(tiny_set, tiny_model, ray_instance, photos, tmp_path):
    results = {name: run("infer", tiny_set, photos, "--model", tiny_model, "-o", tmp_path / name, "--cols", 4,
                         "--format", "txt", *flags) for name, flags in (("local", ()), ("ray", ("--ray",)))}
    assert results["local"].exit_code == results["ray"].exit_code == 1
    assert results["local"].stdout == results["ray"].stdout == ""
    assert results["local"].stderr.replace(str(tmp_path / "local"), "OUT") == \
        results["ray"].stderr.replace(str(tmp_path / "ray"), "OUT")
    assert "error: " in results["ray"].stderr and "converted 5, skipped 0, failed 1" in results["ray"].stderr
    assert files_in(tmp_path / "local") == files_in(tmp_path / "ray")


def test_names_in_the_lines_of_a_batch_on_ray_are_shown_escaped(tiny_set, tiny_model, ray_instance, tmp_path):
    photos = hostile_photos(tmp_path / "photos")
    result = run("infer", tiny_set, photos, "--model", tiny_model, "-o", tmp_path / "out", "--cols", 2, "--ray")
    assert result.exit_code == 1
    assert_names_shown_escaped(result.stderr)

def test_a_worker_killed_mid_photo_leaves_no_half_file_and_the_photo_is_tried_again(converter, engine, faults,
                                                                                    photos, tmp_path):
    convert_all(converter, [photos], tmp_path / "local", Options(cols=3))
    (faults / "die-once-b.png").touch()  # b's worker dies once, after writing its temp file
    (faults / "die-always-d.png").touch()  # d's worker dies on every try
    try:
        report = convert_all(converter, [photos], tmp_path / "ray", Options(cols=3), engine=engine)
    finally:
        (faults / "die-always-d.png").unlink()
    assert not (faults / "die-once-b.png").exists()  # the fault did strike
    assert [p.name for p in report.converted] == ["a.png", "b.png", "moving.png", "c.png"]
    assert [(p.name, "died 3 times" in why) for p, why in report.failed] == [("bad.png", False), ("d.webp", True)]
    assert not [p for p in (tmp_path / "ray").rglob("*") if p.name.endswith(".partial")]
    local = files_in(tmp_path / "local")
    del local["d.png"]
    assert files_in(tmp_path / "ray") == local


HELPER_KILLED = """
import json, logging, os, sys
from pathlib import Path
import ray
tests, emoji_set, model, photos, out, faults, answer = sys.argv[1:]
ray.init("local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
         runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(Path(tests).parent), tests]),
                                   "PIC2EMOJI_TEST_FAULTS": faults}, "worker_process_setup_hook": "ray_faults.install"})
from pic2emoji.batch import convert_all
from pic2emoji.cluster import RayEngine
from pic2emoji.converter import Converter
from pic2emoji.options import Options
report = convert_all(Converter(emoji_set, model), [photos], out, Options(cols=3), engine=RayEngine())
Path(answer).write_text(json.dumps([(p.name, why) for p, why in report.failed]))
"""


def test_a_killed_ray_helper_is_said_to_be_ray_stopping_not_the_photo(tiny_set, tiny_model, photos, tmp_path):
    """One of Ray's own processes killed mid-batch (not a worker): the raylet stops and its workers with
    it; the photos are reported as not converted because Ray stopped, not as out of memory. Its own Ray
    instance, in a subprocess: the module's would not survive it."""
    import json
    import subprocess
    faults, answer = tmp_path / "faults", tmp_path / "failed.json"
    faults.mkdir()
    (faults / "kill-helper-b.png").touch()
    run = subprocess.run([sys.executable, "-c", HELPER_KILLED, str(TESTS), str(tiny_set), str(tiny_model), str(photos),
                          str(tmp_path / "out"), str(faults), str(answer)], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, DEV="CPU"))
    assert run.returncode == 0, run.stderr[-3000:]
    failed = dict(json.loads(answer.read_text()))
    assert "b.jpg" in failed and "bad.png" in failed  # bad.png: as it is, or with Ray, whichever came first
    for photo, why in failed.items():
        if not (photo == "bad.png" and "not a readable image" in why):
            assert "Ray stopped" in why and "out of memory" not in why and "died 3 times" not in why, (photo, why)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".partial")]

def test_an_out_dir_the_workers_cannot_write_is_refused_in_one_line(tiny_set, tiny_model, ray_instance, photos,
                                                                    tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / READ_ONLY).touch()  # writable here, not from the workers (tests/ray_faults.py)
    result = run("infer", tiny_set, photos, "--model", tiny_model, "-o", out, "--cols", 2, "--ray")
    one_line_error(result, str(out), "not writable from the Ray worker", "shares")
    assert sorted(p.name for p in out.iterdir()) == [READ_ONLY]


def test_ctrl_c_stops_the_workers_and_leaves_no_half_file(converter, engine, ray_instance, photos, tmp_path):
    for i in range(6):
        solid(photos / f"e{i}.png", (20 * i, 100, 200), size=(400, 300))

    def interrupt(message):  # the first error arrives (bad.png) while other photos are on the workers
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        convert_all(converter, [photos], tmp_path / "out", Options(cols=8), on_error=interrupt, engine=engine)
    written = list((tmp_path / "out").rglob("*.png"))
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".partial")]
    for mosaic in written:
        Image.open(mosaic).verify()  # whole files only
    assert ray_instance.is_initialized()  # a Ray this process started itself is left running
    for _ in range(100):  # the workers are killed: their CPUs come back
        if ray_instance.available_resources().get("CPU") == 2:
            break
        time.sleep(0.1)
    assert ray_instance.available_resources().get("CPU") == 2


def test_without_ray_the_error_says_what_to_install(tiny_set, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as where it is not installed
    solid(tmp_path / "a.png", (200, 0, 0))
    result = run("infer", tiny_set, tmp_path, "-o", tmp_path / "out", "--ray")
    one_line_error(result, "--ray needs Ray: pip install 'pic2emoji[ray]'")
    with pytest.raises(ClusterError, match="pic2emoji\\[ray\\]"):
        convert_all(None, [tmp_path], tmp_path / "out", engine="ray")


def test_ray_is_for_folders_and_takes_an_address(tiny_set, tmp_path):
    solid(tmp_path / "a.png", (200, 0, 0))
    one = run("infer", tiny_set, tmp_path / "a.png", "-o", tmp_path / "a.txt", "--ray")
    assert one.exit_code == 2 and "--ray converts several photos or a folder" in one.stderr
    word = run("infer", tiny_set, tmp_path / "a.png", "--ray", tmp_path, "-o", tmp_path / "out")
    assert word.exit_code == 2 and "not a Ray address" in word.stderr
