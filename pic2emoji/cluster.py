"""Batch conversion on Ray: convert_all's photos spread over worker processes, here or on a cluster.

Each worker is a Ray actor that builds one Converter (the set, the model, the compiled net) when it
starts, then converts the photos sent to it with convert.prepare, the local engine's own function,
and writes each mosaic itself. So the workers must find the photos, the set, the model and OUT_DIR at
the paths this process gives them: on a cluster, a file system every machine shares. The listing and
its rules stay in convert_all, in this process; one photo per worker is out at a time,
so memory stays flat however large the folder. A worker that dies mid-photo is restarted and the
photo tried again; the retry's atomic write removes the dead one's temp file.

Ray is an optional extra (pip install 'pic2emoji[ray]'): it is imported only when a batch runs on it.
"""
import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from pathlib import Path

from .convert import Outcome, attempt, prepare
from .converter import Converter
from .errors import ClusterError, OutputError, Pic2EmojiError, first_line
from .files import remove_stale_temps, shipped_dir

# Photos out at once per worker. One: a photo queued behind one that kills its worker would be failed
# with it and spend its own retries; the round trip that a second would hide is milliseconds a photo.
IN_FLIGHT = 1
RETRIES = 2    # tries of a photo after the first, when its worker dies (killed, out of memory)
CPU_DEVICES = ("CPU",)  # tinygrad devices that never need a GPU from Ray (0.14 has no LLVM or CLANG)


def need_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs Ray: pip install 'pic2emoji[ray]'") from None
    return ray


class Worker:
    """One Ray worker process: its Converter, built once, and the photos it is sent."""
    def __init__(self, emoji_dir, model_file, device, cwd):  # emoji_dir and model_file as `portable` gives them
        self.error = None
        with contextlib.suppress(OSError):  # relative paths mean what they mean to the driver, where it is shared
            os.chdir(cwd)
        try:
            from .device import use_device  # tinygrad: the workers run films and batches on their device
            use_device(device)
            self.converter = Converter(found(emoji_dir), found(model_file))
        except Pic2EmojiError as e:  # said by probe, in one line, instead of a dead actor's traceback
            self.error = str(e)

    def probe(self, out_dir, token: str) -> str | None:
        """Why this worker cannot write mosaics into OUT_DIR, or None if it can: it must see the file
        `token` the driver put there (the same folder, not a local one of the same name) and write its own."""
        if self.error:
            return f"a Ray worker on {socket.gethostname()} cannot start: {self.error}"
        out_dir, shared = Path(out_dir), "every worker writes its mosaics there, so it must be on a file system " \
                                         "the whole cluster shares, writable by the workers"
        if not (out_dir / token).is_file():
            return f"{out_dir}: not the folder the Ray worker on {socket.gethostname()} sees; {shared}"
        mine = out_dir / f"{token}.{os.getpid()}"
        try:
            os.close(os.open(mine, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            os.unlink(mine)
        except OSError as e:
            return f"{out_dir}: not writable from the Ray worker on {socket.gethostname()} ({e.strerror}); {shared}"
        return None

    def convert(self, photo, out, options, overwrite) -> Outcome:
        return attempt(photo, lambda: prepare(self.converter, photo, out, options, overwrite)())


class RayEngine:
    """convert_all's engine on Ray.

    address: None starts a Ray instance on this machine with `num_cpus` (default: all its cores) and
    stops it at the end; "auto" or "ray://host:port" joins a running cluster and leaves it running. A
    Ray this process has already started (ray.init) is used as it is. workers: how many (default: one
    per CPU of the cluster); where the cluster has GPUs and the device is not the CPU, they share them.
    runtime_env: Ray's, for the workers (pip packages, a working_dir), merged with the env they need.
    """
    def __init__(self, address: str | None = None, workers: int | None = None, num_cpus: int | None = None,
                 runtime_env: dict | None = None):
        need_ray()  # a missing extra is said before any work
        self.address, self.workers, self.num_cpus, self.runtime_env = address, workers, num_cpus, runtime_env or {}

    def __call__(self, converter, jobs, out_dir: Path, options, overwrite: bool, record) -> None:
        ray = need_ray()
        jobs = iter(jobs)
        first = next(jobs, None)
        if first is None:  # nothing to convert (all skipped, say): no need for Ray at all
            return
        started = self._connect(ray)
        made_out_dir, actors, pending = not out_dir.exists(), [], {}
        try:
            actors = self._start(ray, converter)
            self._probe(ray, actors, out_dir)
            self._run(ray, actors, [first], jobs, pending, overwrite, record)
        finally:
            self._stop(ray, actors, pending, started)
            if made_out_dir:  # as the local engine, leave no folder where nothing was written
                with contextlib.suppress(OSError):
                    out_dir.rmdir()

    def _connect(self, ray) -> bool:
        """Join or start Ray, quietly; True when this call started it (and so must stop it)."""
        if ray.is_initialized():
            return False
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        local = self.address in (None, "local")
        try:
            if local:
                ray.init("local", num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False, **quiet)
            else:
                ray.init(self.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as e:
            if local:
                raise
            raise ClusterError(f"cannot join the Ray cluster at {self.address} ({first_line(e)}); start one with "
                               "`ray start --head` there, or give --ray alone for one on this machine") from None
        # The raylet's notes (a worker died, a task is retried) go to the driver's stdout; ours say what matters.
        ray._private.worker._worker_logs_enabled = False
        return local

    def _start(self, ray, converter) -> list:
        from tinygrad import Device
        resources = ray.cluster_resources()
        count = self.workers or max(1, int(resources.get("CPU", 1)))
        env = {**self.runtime_env.get("env_vars", {}), "DEV": Device.DEFAULT}  # tinygrad's device, as here
        if os.environ.get("PIC2EMOJI_CACHE_DIR"):
            env["PIC2EMOJI_CACHE_DIR"] = os.environ["PIC2EMOJI_CACHE_DIR"]
        settings = {"num_cpus": 1, "max_restarts": -1, "max_task_retries": RETRIES,
                    "runtime_env": {**self.runtime_env, "env_vars": env}}
        if resources.get("GPU") and Device.DEFAULT not in CPU_DEVICES:
            settings["num_gpus"] = min(1.0, resources["GPU"] / count)
        actor = ray.remote(**settings)(Worker)
        source = (portable(converter.emoji_set.path, "emoji_sets"), portable(converter.model.path, "models"),
                  Device.DEFAULT, os.getcwd())
        return [actor.remote(*source) for _ in range(count)]

    def _probe(self, ray, actors, out_dir: Path) -> None:
        """Refuse, in one line, an OUT_DIR that a worker cannot write, before any photo is sent."""
        token = out_dir / f".pic2emoji-probe-{uuid.uuid4().hex[:12]}"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            token.touch()
        except OSError as e:
            raise OutputError(f"{out_dir}: cannot write here ({e.strerror}); choose another place") from None
        try:
            refusals = ray.get([a.probe.remote(str(out_dir), token.name) for a in actors])
        except ray.exceptions.RayActorError as e:
            raise ClusterError(f"the Ray workers did not start ({first_line(e)}); every machine of the cluster "
                               "needs pic2emoji installed, as here") from None
        finally:
            token.unlink()
        if refusal := next((r for r in refusals if r), None):
            raise ClusterError(refusal)

    def _run(self, ray, actors, first, jobs, pending, overwrite, record) -> None:
        load = dict.fromkeys(actors, 0)  # photos sent to each worker and not answered yet
        waiting = iter(first)
        while True:
            while len(pending) < IN_FLIGHT * len(actors) and (job := next(waiting, None) or next(jobs, None)):
                actor = min(load, key=load.get)
                pending[actor.convert.remote(*job[1:], overwrite)] = (*job[:3], actor)
                load[actor] += 1
            if not pending:
                return
            [done], _ = ray.wait(list(pending), num_returns=1)
            index, photo, out, actor = pending.pop(done)
            load[actor] -= 1
            try:
                outcome = ray.get(done)
            except ray.exceptions.RayActorError as e:
                _remove_temps(out)
                outcome = Outcome(photo, error=f"{photo}: {why_gone(ray, e)}")
            record(index, outcome)

    def _stop(self, ray, actors, pending, started: bool) -> None:
        """Kill the workers (on Ctrl-C, mid-photo), remove what the killed ones were writing, stop our Ray."""
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if pending:  # interrupted: once the killed workers are gone, their temp files can go too
            ray.wait(list(pending), num_returns=len(pending), timeout=10)
            for index, photo, out, actor in pending.values():
                _remove_temps(out)
        if started:
            ray.shutdown()


def why_gone(ray, error) -> str:
    """Why a photo's worker is gone, in words: Ray itself stopped on its machine (its raylet died, or
    was stopped because a helper it needs, such as its runtime-env or dashboard agent, was killed: the
    workers there go with it, whatever they were converting), or the worker alone died on each try."""
    text = str(error)
    ip = (re.search(r"\bip: (\S+)", text) or [None, None])[1]
    if re.search(r"node has (crashed|died)|node .* marked dead", text, re.IGNORECASE) or not _node_alive(ray, ip):
        where = f"on {ip}" if ip else "here"
        return (f"not converted: Ray stopped {where} (its raylet, or a helper process it needs, died or was killed) "
                "and the worker converting it with it; run the batch again (--skip-existing keeps the mosaics written)")
    return (f"the Ray worker converting it died {RETRIES + 1} times ({first_line(error)}); out of memory? "
            "convert it without --ray to see")


def _node_alive(ray, ip: str | None, wait: float = 5) -> bool:
    """Whether Ray is still up on the machine at `ip` (None: on every one), as its GCS sees it; False if
    the GCS cannot say."""
    mine = lambda node: ip is None or node["NodeManagerAddress"] == ip
    answer = []
    asking = threading.Thread(target=lambda: answer.append(any(n["Alive"] for n in ray.nodes() if mine(n))), daemon=True)
    asking.start()
    asking.join(wait)  # a GCS that was killed too would keep us waiting
    return bool(answer and answer[0])


def portable(path, kind: str) -> tuple[str | None, str]:
    """A set's or model's path as a worker finds it: a shipped one as (kind, its path inside pic2emoji's
    `kind` folder), since pic2emoji may be installed elsewhere there; any other (None, absolute path),
    which the cluster must share."""
    path, shipped = Path(path).resolve(), shipped_dir(kind).resolve()
    return (kind, str(path.relative_to(shipped))) if path.is_relative_to(shipped) else (None, str(path))


def found(where: tuple[str | None, str]) -> Path:
    """The path `portable` gave, on this machine."""
    kind, path = where
    return shipped_dir(kind) / path if kind else Path(path)


def _remove_temps(out: Path, wait: float = 10.0) -> None:
    """Remove what a worker that died was writing to `out`: its process may take a moment to be gone
    after Ray reports it dead, and its temp file is removed only once it is."""
    deadline = time.monotonic() + wait
    with contextlib.suppress(OSError):
        while remove_stale_temps(out) and time.monotonic() < deadline:
            time.sleep(0.1)

