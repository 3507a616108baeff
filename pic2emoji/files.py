"""Files: where the shipped ones are, and writing so that nothing is ever half-written (a temp file
beside the target, then a rename)."""
import os
import tempfile
from pathlib import Path

from .errors import OutputError


def write_atomically(path, write) -> None:
    """Call write(temp_path), then move the finished file over `path`: a crash never leaves half a file.

    The temp file sits in the same folder (a rename across file systems is not atomic) and is removed
    on any failure, so a full disk leaves the previous file as it was and no litter beside it.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise OutputError(f"{path}: cannot write here ({e.strerror}); choose another place") from None
    try:
        write(temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's permissions
        with open(temp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temp, path)
    except OSError as e:
        raise OutputError(f"{path}: could not be written ({e.strerror}); the previous file, if any, is untouched") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def shipped_dir(kind: str) -> Path:
    """Where the shipped `emoji_sets` or `models` are: inside the installed package (as `<kind>_data`,
    see setup.cfg) or at the top of a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / f"{kind}_data", package.parent / kind):
        if candidate.is_dir():
            return candidate
    return package.parent / kind
