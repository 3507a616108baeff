"""Faults for the Ray tests, set up in every Ray worker process (Ray's worker_process_setup_hook).

Inert unless a test leaves a marker in $PIC2EMOJI_TEST_FAULTS: `die-once-NAME` makes the worker that
writes the mosaic NAME exit at once (as if killed) after its temp file is written and before it is put
in place, once; `die-always-NAME` every time; `kill-helper-NAME` makes it kill one of Ray's own helper
processes on its machine instead (the runtime-env agent, which the raylet cannot live without) and wait
to be taken down with the raylet. A folder holding a file `workers-cannot-write` refuses every file a
worker tries to create there (a folder the workers cannot write, as a driver's local disk).
"""
import errno
import os
import signal
import time
from pathlib import Path

READ_ONLY = "workers-cannot-write"


def install():
    from pic2emoji import files
    faults = Path(os.environ["PIC2EMOJI_TEST_FAULTS"])
    real_write, real_open = files.write_atomically, os.open

    def write_atomically(path, write, replace=True):
        def write_then_die(temp):
            write(temp)
            once = faults / f"die-once-{Path(path).name}"
            try:
                once.unlink()  # one worker claims it: the retry goes through
                os._exit(1)
            except FileNotFoundError:
                pass
            if (faults / f"die-always-{Path(path).name}").exists():
                os._exit(1)
            if (faults / f"kill-helper-{Path(path).name}").exists():
                os.kill(runtime_env_agent(), signal.SIGKILL)
                time.sleep(60)  # the raylet stops, and this worker with it
                os._exit(1)
        return real_write(path, write_then_die, replace)

    def refusing_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and (Path(path).parent / READ_ONLY).exists():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    files.write_atomically = write_atomically
    os.open = refusing_open


def runtime_env_agent() -> int:
    """The pid of the runtime-env agent of this worker's raylet (its parent): a sibling process."""
    raylet = os.getppid()
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == raylet and (b"RuntimeEnvAgent" in command or b"runtime_env/agent" in command):
            return int(entry.name)
    raise RuntimeError(f"no runtime-env agent under raylet {raylet}")
