"""The package as a newcomer meets it: what `pic2emoji` exports, no import cycle, rooms of a readable size."""
import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pic2emoji"
EXAMPLE = PACKAGE.parent / "examples" / "photos" / "chelsea.png"
MAX_LINES, MAX_CHARACTERS = 350, 16_000  # nanoGPT's largest file is about that (STYLE.md)


def imports_of(path: Path) -> set[str]:
    """The package's modules that a module imports, anywhere in it (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import y / from . import y
            found |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pic2emoji"):
            found.add(node.module.removeprefix("pic2emoji").lstrip(".") or "__init__")
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("pic2emoji.") for a in node.names if a.name.startswith("pic2emoji.")}
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return {name.split(".")[0] if name.split(".")[0] in modules else "__init__" for name in found} - {path.stem}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as the path around it, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = "done"
        return None
    return next((found for node in sorted(graph) if node not in state and (found := visit(node, [node]))), None)


def test_the_cycle_finder_finds_one():
    assert cycle({"batch": {"cluster"}, "cluster": {"convert"}, "convert": {"batch"}}) == ["batch", "cluster", "convert", "batch"]
    assert cycle({"batch": {"convert"}, "cluster": {"convert"}, "convert": set()}) is None


def test_no_module_imports_one_that_imports_it_back():
    graph = {path.stem: imports_of(path) for path in PACKAGE.glob("*.py")}
    assert graph["cluster"] >= {"convert"} and "converter" in graph["convert"]  # the walk sees real imports
    assert cycle(graph) is None, " -> ".join(cycle(graph))


def test_every_module_is_a_room_of_readable_size():
    sizes = {p.name: (len(p.read_text(encoding="utf-8").splitlines()), len(p.read_text(encoding="utf-8")))
             for p in PACKAGE.glob("*.py")}
    too_big = {name: size for name, size in sizes.items() if size[0] > MAX_LINES or size[1] > MAX_CHARACTERS}
    assert not too_big, f"over {MAX_LINES} lines or {MAX_CHARACTERS} characters (lines, characters): {too_big}"


def test_the_api_is_importable_from_the_package_without_tinygrad_which_only_a_net_on_a_device_imports():
    code = ("import sys, pic2emoji.render, pic2emoji.emoji_sets; assert 'tinygrad' not in sys.modules; "
            "from pic2emoji import Converter, Options, convert_all, save_mosaic; assert 'tinygrad' not in sys.modules; "
            "Converter('noto', host=True); assert 'tinygrad' not in sys.modules; "
            "Converter('noto'); assert 'tinygrad' in sys.modules; "
            "print(Converter.__module__, save_mosaic.__module__, convert_all.__module__, Options.__module__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["pic2emoji.converter", "pic2emoji.convert", "pic2emoji.batch", "pic2emoji.options"]


def test_one_photo_on_the_command_line_never_imports_tinygrad_unless_a_device_is_asked_for(tmp_path, tiny_set, tiny_model):
    """The host net (host.py) classifies one still photo: tinygrad's import and device cost more than its net."""
    code = ("import sys; from pic2emoji.cli import main\n"
            "try: main(sys.argv[1:])\n"
            "except SystemExit as e: assert not e.code, e.code\n"
            "print('tinygrad' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "DEV"}
    runs = {}
    for extra in ([], ["--device", "CPU"]):
        out = tmp_path / f"mosaic{len(extra)}.png"
        result = subprocess.run([sys.executable, "-c", code, "infer", str(tiny_set), str(EXAMPLE), "--model", str(tiny_model),
                                 "-o", str(out), "--cols", "24", *extra], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
        runs[bool(extra)] = result.stdout.split()[-1], out.read_bytes()
    assert runs[False][0] == "False" and runs[True][0] == "True"
    assert runs[False][1] == runs[True][1]  # the same mosaic either way
