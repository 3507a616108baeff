"""Writing outputs: folders made as needed, refusals in one line, never a half-written file; the cache folder."""
import os
import tempfile

import pytest

from pic2emoji.errors import OutputError
from pic2emoji.files import cache_dir, check_replaceable, write_atomically, write_bytes

from conftest import one_line_error, run, solid


def test_a_failed_write_leaves_the_previous_file_and_no_litter(tmp_path):
    target = tmp_path / "m.txt"
    target.write_text("mine")

    def half_then_full(temp):
        with open(temp, "w") as f:
            f.write("half a mos")
        raise OSError(28, "No space left on device")
    with pytest.raises(OutputError, match="m.txt: could not be written .No space left on device.; the previous"):
        write_atomically(target, half_then_full)
    assert target.read_text() == "mine" and list(tmp_path.iterdir()) == [target]
    write_atomically(target, lambda temp: open(temp, "w").write("new"))
    assert target.read_text() == "new" and list(tmp_path.iterdir()) == [target]


def test_missing_output_folders_are_made(tiny_set, tiny_model, tmp_path):
    out = tmp_path / "a" / "b" / "m.png"
    assert run("infer", tiny_set, solid(tmp_path / "p.png", (0, 0, 0)), "--model", tiny_model, "-o", out).exit_code == 0
    assert out.is_file()


def test_output_under_a_file_is_refused(tiny_set, tiny_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(run("infer", tiny_set, solid(tmp_path / "p.png", (220, 30, 30)), "--model", tiny_model,
                       "-o", blocker / "m.png"), "cannot write here")


def test_read_only_folder(tiny_set, tiny_model, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # root ignores chmod, so simulate the refusal
    one_line_error(run("infer", tiny_set, solid(tmp_path / "p.png", (220, 30, 30)), "--model", tiny_model,
                       "-o", tmp_path / "m.png"), "m.png", "Permission denied")


def test_of_two_runs_writing_one_name_without_overwrite_exactly_one_wins(tmp_path):
    target = tmp_path / "m.txt"

    def slow_write(temp):  # while this run writes, another one finishes the same file
        open(temp, "w").write("mine")
        write_atomically(target, lambda other: open(other, "w").write("theirs"), replace=False)
    with pytest.raises(OutputError, match="m.txt: already exists .another run wrote it meanwhile."):
        write_atomically(target, slow_write, replace=False)
    assert target.read_text() == "theirs" and list(tmp_path.iterdir()) == [target]


def test_temp_files_of_a_killed_run_are_cleaned_on_the_next(tmp_path):
    dead = tmp_path / ".m.txt.999999999-abc.partial"  # no such process
    living = tmp_path / f".m.txt.{os.getppid()}-xyz.partial"  # a run still writing
    other = tmp_path / ".other.txt.999999999-abc.partial"  # another target's: not ours to judge
    for temp in (dead, living, other):
        temp.write_text("half")
    write_atomically(tmp_path / "m.txt", lambda temp: open(temp, "w").write("done"))
    assert not dead.exists() and living.exists() and other.exists()


def test_only_regular_files_are_replaced(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OutputError, match="fifo: is not a regular file"):
        write_atomically(tmp_path / "fifo", lambda temp: open(temp, "w").write("x"))


def test_a_link_to_nothing_is_refused_before_any_work(tmp_path):
    (tmp_path / "out.png").symlink_to(tmp_path / "gone" / "x.png")
    with pytest.raises(OutputError, match=r"out\.png: is a link to .*gone/x\.png, which does not exist; remove the link"):
        check_replaceable(tmp_path / "out.png")
    with pytest.raises(OutputError, match="which does not exist"):
        write_bytes(tmp_path / "out.png", b"x", replace=True)
    assert not (tmp_path / "gone").exists()  # nothing made through the link


def test_the_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PIC2EMOJI_CACHE_DIR", str(tmp_path / "ours"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "ours"
    monkeypatch.delenv("PIC2EMOJI_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "pic2emoji"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "pic2emoji"
