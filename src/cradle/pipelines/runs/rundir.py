"""A run directory: ``manifest.json`` and ``predictions.jsonl``, resumable after any crash.

- ``predictions.jsonl`` gets one line per finished item, appended and flushed at once, so a
  run killed at any moment (even ``kill -9``) loses at most the items in flight and a torn last
  line, which is cut off when the run is opened again.
- ``manifest.json`` records what the predictions depend on (``settings``: detector spec, prompt
  hash, decoding parameters, dataset fingerprint), the environment (package versions), and one
  entry per session (times, calls, cache hits). It is replaced atomically.
- Reopening a run with different ``settings`` is refused with the list of differences, so one
  predictions file never mixes two configurations. Transport settings (concurrency, timeouts,
  retries) may change between sessions.
- A lock file keeps two processes from writing one run at once; a lock left by a dead process
  is taken over.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
import threading
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from cradle.data import Prediction, Status, append_prediction, read_predictions

__all__ = [
    "MANIFEST_NAME",
    "PREDICTIONS_NAME",
    "RunDirectoryError",
    "RunMismatchError",
    "RunDirectory",
    "settings_differences",
    "environment_info",
]

MANIFEST_NAME = "manifest.json"
PREDICTIONS_NAME = "predictions.jsonl"
_LOCK_NAME = ".lock"
_FORMAT = 1
_PACKAGES = ("cradle-risk", "httpx", "numpy", "scikit-learn", "rich", "typer", "torch", "transformers")


class RunDirectoryError(ValueError):
    """A folder that cannot be used as a run directory (not made by cradle, locked, unreadable)."""


class RunMismatchError(RunDirectoryError):
    """A run reopened with different settings.

    Attributes
    ----------
    differences : list of str
        One ``key: in the run X, now Y`` line per difference.
    """

    def __init__(self, path: Path, differences: list[str]) -> None:
        self.differences = differences
        listed = "\n".join(f"  {d}" for d in differences)
        super().__init__(
            f"{path} holds a run made with different settings; resume it with the same ones, or choose another --out:\n{listed}"
        )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def settings_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Every dotted key whose value differs between two settings objects.

    Examples
    --------
    >>> settings_differences({"detector": {"parameters": {"temperature": 0.0}}}, {"detector": {"parameters": {"temperature": 0.7}}})
    ['detector.parameters.temperature: in the run 0.0, now 0.7']
    """
    a, b = _flatten(json.loads(json.dumps(old))), _flatten(json.loads(json.dumps(new)))
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            out.append(f"{key}: in the run {a.get(key, '<absent>')!r}, now {b.get(key, '<absent>')!r}")
    return out


def environment_info() -> dict[str, Any]:
    """Python, platform and the versions of the packages that shape a run."""
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": sys.version.split()[0], "platform": _platform(), "packages": versions}


def _platform() -> str:
    """``platform.platform()``'s system, release, machine and C library, without the ``uname -p``
    subprocess it starts for the processor name (about 6 ms on every run start)."""
    libc, version = platform.libc_ver() if sys.platform.startswith("linux") else ("", "")
    return "-".join(x for x in (platform.system(), platform.release(), platform.machine(), f"with-{libc}{version}" if libc else "") if x)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_json_atomic(path: Path, obj: Any, *, sync: bool = True) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        if sync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _cut_torn_tail(path: Path) -> int:
    """Truncate an unterminated last line; return the bytes removed."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return 0
        block = 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                fh.truncate(keep)
                return size - keep
            pos = start
        fh.truncate(0)
        return size


class RunDirectory:
    """An open run directory (use :meth:`open`).

    Attributes
    ----------
    path : Path
    manifest : dict
    records : dict of str to Prediction
        The latest prediction of every item recorded so far.
    retry_errors : bool
        Whether items whose prediction has status ``error`` count as still to do.
    """

    def __init__(
        self, path: Path, manifest: dict[str, Any], records: dict[str, Prediction], lines: int, retry_errors: bool
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.records = records
        self.retry_errors = retry_errors
        self._lines = lines
        self._fh: Any = None
        self._synced: threading.Thread | None = None

    @property
    def manifest_path(self) -> Path:
        """``RUN/manifest.json``."""
        return self.path / MANIFEST_NAME

    @property
    def predictions_path(self) -> Path:
        """``RUN/predictions.jsonl``."""
        return self.path / PREDICTIONS_NAME

    @classmethod
    def open(
        cls,
        path: str | Path,
        settings: Mapping[str, Any],
        *,
        schema: Literal["post", "dialogue"],
        transport: Mapping[str, Any] | None = None,
        retry_errors: bool = True,
    ) -> RunDirectory:
        """Create a run directory, or reopen one made with the same settings.

        Parameters
        ----------
        path : path
        settings : mapping
            What the predictions depend on (compared on reopening).
        schema : {"post", "dialogue"}
            Label schema of the predictions.
        transport : mapping, optional
            This session's transport settings (recorded, never compared).
        retry_errors : bool, default=True
            Count items that ended in ``error`` as still to do.

        Raises
        ------
        RunMismatchError
            When the directory holds a run with other settings.
        RunDirectoryError
            When the folder holds predictions but no manifest, or another live process holds it.
        """
        p = Path(path).expanduser()
        if p.exists() and not p.is_dir():
            raise RunDirectoryError(f"{p} is a file; --out needs a directory")
        p.mkdir(parents=True, exist_ok=True)
        cls._lock(p)
        try:
            manifest_path, pred_path = p / MANIFEST_NAME, p / PREDICTIONS_NAME
            settings = json.loads(json.dumps(settings))
            if manifest_path.exists():
                try:
                    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise RunDirectoryError(f"{manifest_path} cannot be read ({exc}); choose another --out") from None
                diffs = settings_differences(manifest.get("settings", {}), settings)
                if diffs:
                    raise RunMismatchError(p, diffs)
            elif pred_path.exists() and pred_path.stat().st_size > 0:
                raise RunDirectoryError(
                    f"{p} holds {PREDICTIONS_NAME} but no {MANIFEST_NAME}: it was not made by a cradle run; choose another --out"
                )
            else:
                manifest = {"format": _FORMAT, "created": _now(), "settings": settings, "sessions": []}
            records: dict[str, Prediction] = {}
            lines = 0
            if pred_path.exists():
                _cut_torn_tail(pred_path)
                for pred in read_predictions(pred_path, schema, allow_duplicates=True):
                    records[pred.id or ""] = pred
                with open(pred_path, "rb") as fh:
                    lines = sum(1 for line in fh if line.strip())
            manifest["environment"] = environment_info()
            manifest["status"] = "running"
            manifest["updated"] = _now()
            manifest.setdefault("sessions", []).append(
                {"started": _now(), "pid": os.getpid(), "transport": dict(transport or {}), "resumed_items": len(records)}
            )
            # Written at once and made durable in the background (an fsync can take 50-100 ms on
            # a busy disk): the first model calls need not wait for it, and append() waits for
            # it before the first prediction line, so a manifest is always on disk before them.
            _write_json_atomic(manifest_path, manifest, sync=False)
        except BaseException:
            cls._unlock(p)
            raise
        run = cls(p, manifest, records, lines, retry_errors)
        run._synced = threading.Thread(target=_fsync_path, args=(manifest_path,), name="cradle-manifest-fsync", daemon=True)
        run._synced.start()
        return run

    @staticmethod
    def _lock(p: Path) -> None:
        lock = p / _LOCK_NAME
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or "0")
                except (OSError, ValueError):
                    pid = 0
                if pid != os.getpid() and _pid_alive(pid):
                    raise RunDirectoryError(
                        f"{p} is being written by another process (pid {pid}); wait for it or choose another --out"
                    ) from None
                lock.unlink(missing_ok=True)  # left by a process that died
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return
        raise RunDirectoryError(f"cannot lock {p}")

    @staticmethod
    def _unlock(p: Path) -> None:
        (p / _LOCK_NAME).unlink(missing_ok=True)

    def needs(self, item_id: str) -> bool:
        """True when ``item_id`` has no usable prediction yet."""
        rec = self.records.get(item_id)
        if rec is None:
            return True
        return self.retry_errors and rec.status is Status.ERROR

    def append(self, prediction: Prediction) -> None:
        """Record one prediction (it must carry an id): one line, flushed."""
        if not prediction.id:
            raise ValueError("a recorded prediction needs an id")
        if self._fh is None:
            if self._synced is not None:
                self._synced.join()  # the manifest is durable before the first prediction
                self._synced = None
            self._fh = open(self.predictions_path, "a", encoding="utf-8")  # noqa: SIM115 (held for the session, closed in finish)
        append_prediction(self._fh, prediction)
        self.records[prediction.id] = prediction
        self._lines += 1

    def compact(self, order: Iterable[str] | None = None) -> bool:
        """Rewrite the predictions without superseded lines (atomically); return whether it did.

        Parameters
        ----------
        order : iterable of str, optional
            Ids in the order to write; ids not listed follow in recording order.
        """
        if self._lines == len(self.records):
            return False
        self._close_file()
        ids = list(dict.fromkeys([*(i for i in (order or ()) if i in self.records), *self.records]))
        tmp = self.predictions_path.with_name(PREDICTIONS_NAME + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for i in ids:
                append_prediction(fh, self.records[i])
            os.fsync(fh.fileno())
        os.replace(tmp, self.predictions_path)
        self._lines = len(ids)
        return True

    def finish(
        self,
        status: Literal["complete", "incomplete", "interrupted", "failed"],
        session: Mapping[str, Any],
        summary: Mapping[str, Any],
    ) -> None:
        """Close the predictions file, complete this session's entry and write the manifest."""
        if self._synced is not None:
            self._synced.join()
            self._synced = None
        self._close_file()
        self.manifest["status"] = status
        self.manifest["updated"] = _now()
        entry = self.manifest["sessions"][-1]
        entry.update({"finished": _now(), **session})
        self.manifest.update(summary)
        try:
            _write_json_atomic(self.manifest_path, self.manifest)
        finally:
            self._unlock(self.path)

    def _close_file(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
