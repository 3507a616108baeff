"""Files: where the shipped ones and the cache are, and writing so that nothing is ever half-written (a
temp file beside the target, then a rename)."""
import contextlib
import errno
import os
import tempfile
from pathlib import Path

from .errors import OutputError


def write_atomically(path, write, replace: bool = True) -> None:
    """Call write(temp_path), then move the finished file to `path`: a crash never leaves half a file.

    The temp file sits in the same folder (a rename across file systems is not atomic) and is removed
    on any failure, so a full disk leaves the previous file as it was and no litter beside it; temp
    files that a killed run left for the same target are removed first. With replace=False the file
    is put in place only if nothing is there by then (a hard link, atomic): of two runs writing one
    name, one wins and the other is refused. Only a regular file is ever replaced.
    """
    path = Path(path)
    check_replaceable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".partial", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{path}: cannot write here ({e.strerror}); choose another place") from None
    try:
        write(temp)
        os.chmod(temp, 0o666 & ~umask())  # mkstemp makes it private; give it a normal file's permissions
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        if replace:
            os.replace(temp, path)
        else:
            _put_if_absent(temp, path)
    except FileExistsError:
        raise OutputError(f"{path}: already exists (another run wrote it meanwhile); pass --overwrite to replace it") from None
    except OSError as e:
        raise OutputError(f"{path}: could not be written ({e.strerror}); the previous file, if any, is untouched") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def umask() -> int:
    """This process's umask (reading it means setting it: it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_replaceable(path: Path) -> None:
    """Refuse a path that holds anything but a regular file: a folder, FIFO or device is never replaced,
    nor a link to nothing (whose name looks free but is not)."""
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{path}: is a link to {os.readlink(path)}, which does not exist; remove the link or "
                          "choose another output name")
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: is not a regular file (a folder, FIFO or device); choose another output name")


def write_bytes(path, data: bytes, replace: bool = True) -> None:
    """write_atomically for bytes already made."""
    write_atomically(path, lambda temp: Path(temp).write_bytes(data), replace)


def _put_if_absent(temp: str, path: Path) -> None:
    try:
        os.link(temp, path)  # fails with FileExistsError if anything is there: the check and the move are one
    except FileExistsError:
        raise
    except OSError as e:  # a file system without hard links (FAT, some network shares)
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # claim the name, then fill it
        os.replace(temp, path)


def remove_stale_temps(path) -> int:
    """Remove `.NAME.PID-XXXX.partial` files beside `path` whose process is gone (killed mid-write);
    returns how many another live process still holds."""
    path, held = Path(path), 0
    prefix = f".{path.name}."
    for name in os.listdir(path.parent):
        if not (name.startswith(prefix) and name.endswith(".partial")):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)
        elif pid.isdigit() and int(pid) != os.getpid():
            held += 1
    return held


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def cache_dir() -> Path:
    """Where captured nets, tile layers and the remembered device are kept: $PIC2EMOJI_CACHE_DIR, else
    ~/.cache/pic2emoji."""
    if os.environ.get("PIC2EMOJI_CACHE_DIR"):
        return Path(os.environ["PIC2EMOJI_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pic2emoji"


def data_dir() -> Path:
    """Where what pic2emoji makes for you to keep (models trained for a shipped set) goes:
    $PIC2EMOJI_DATA_DIR, else ~/.local/share/pic2emoji."""
    if os.environ.get("PIC2EMOJI_DATA_DIR"):
        return Path(os.environ["PIC2EMOJI_DATA_DIR"])
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "pic2emoji"


def shipped_dir(kind: str) -> Path:
    """Where the shipped `emoji_sets` or `models` are: inside the installed package (as `<kind>_data`,
    see setup.cfg) or at the top of a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / f"{kind}_data", package.parent / kind):
        if candidate.is_dir():
            return candidate
    return package.parent / kind
