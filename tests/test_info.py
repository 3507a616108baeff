"""`pic2emoji info`: what pic2emoji runs on here, said plainly."""
from pic2emoji.info import info_lines, tidy


def test_a_phrase_tinygrad_says_twice_is_said_once():
    assert tidy("No interface for AMD:0 is available is available (3 sub-exceptions)") == \
        "No interface for AMD:0 is available (3 sub-exceptions)"
    assert tidy("failed to load library cuda: try setting CUDA_PATH?") == "failed to load library cuda: try setting CUDA_PATH?"


def test_info_names_the_device_the_sets_and_the_models():
    lines = info_lines("CPU")
    assert lines[0].startswith("pic2emoji ") and lines[1].startswith("device: CPU (--device)")
    assert any(line.startswith("emoji sets: ") and "noto" in line for line in lines)
    assert not any("is available is available" in line for line in lines)


def test_info_says_where_infer_runs_its_net_in_numpy_unless_a_device_is_asked_for(monkeypatch):
    import pic2emoji.info as info
    monkeypatch.setattr(info, "use_device", lambda asked: asked or "CL")
    monkeypatch.delenv("DEV", raising=False)
    monkeypatch.setattr("pic2emoji.host.gpu_here", lambda: True)
    assert info_lines()[1].endswith("; infer on one still photo runs its net in numpy)")
    monkeypatch.setattr("pic2emoji.host.gpu_here", lambda: False)
    assert info_lines()[1].endswith("; infer runs its net in numpy here (no GPU))")
    assert "numpy" not in info_lines("CPU")[1]
    monkeypatch.setenv("DEV", "CPU")
    assert "numpy" not in info_lines()[1]
