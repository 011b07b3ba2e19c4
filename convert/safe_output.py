"""Write-to-temp-then-publish, so a failed or interrupted conversion leaves nothing behind.

The temp file sits beside the target (same filesystem, so publishing is an
atomic rename) and carries the writer's pid in its name: a later run removes
temp files whose writer no longer exists (killed with SIGKILL, power loss).
"""
from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from .errors import ConvertError, ConvertInterrupted

TEMP_MARK = ".qxpart-"


def temp_path_for(target: Path, pid: int | None = None) -> Path:
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid() if pid is None else pid}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete leftovers of earlier runs for `target` whose writing process is gone."""
    removed = []
    prefix = f".{target.name}{TEMP_MARK}"
    if not target.parent.is_dir():
        return removed
    for p in target.parent.iterdir():
        if not p.name.startswith(prefix):
            continue
        try:
            pid = int(p.name[len(prefix):])
        except ValueError:
            continue
        if pid != os.getpid() and _pid_alive(pid):
            continue
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def check_target(target: Path, force: bool) -> None:
    if not target.parent.is_dir():
        raise ConvertError(f"output folder {target.parent} does not exist")
    if target.is_dir():
        raise ConvertError(f"output path {target} is a folder")
    if target.exists() and not force:
        raise ConvertError(f"{target} already exists; pass --force (force=True) to overwrite it")


def publish(tmp: Path, target: Path, force: bool) -> None:
    """Move the finished temp file into place: atomically replace when forced, else link
    without clobbering (fails if the target appeared meanwhile)."""
    if force:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise ConvertError(f"{target} appeared while converting; not overwriting it without --force") from None
    except OSError:
        # filesystems without hard links: re-check, then rename
        if target.exists():
            raise ConvertError(f"{target} appeared while converting; not overwriting it without --force") from None
        os.replace(tmp, target)
        return
    tmp.unlink()


@contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGINT/SIGTERM into ConvertInterrupted while converting so `finally` blocks run,
    and ignore SIGXFSZ so that a file size limit (ulimit -f) fails the write with EFBIG
    instead of killing the process. Only the main thread can own signal handlers;
    elsewhere this is a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise ConvertInterrupted(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    old[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    except ConvertInterrupted:
        raise
    except Exception as e:
        # A signal that lands inside library code (numpy's array discovery, torch's loaders)
        # may come out re-wrapped as that library's own error; the cause is still the signal.
        if received:
            raise ConvertInterrupted(received[0]) from e
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _write_failure(target: Path, e: OSError) -> ConvertError:
    why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
           errno.EFBIG: "the file size limit was reached"}.get(e.errno or 0)
    if why:
        detail = f"{why} ({e.strerror})"
    elif e.errno is None and "written" in str(e):
        # numpy's tofile reports a short write, what a full disk or size limit causes, without an errno.
        detail = f"short write ({e}): the disk is full or a file size limit was reached"
    else:
        detail = str(e)
    return ConvertError(f"could not write {target}: {detail}; no output was written")


@contextmanager
def temp_output(target: Path) -> Iterator[Path]:
    """Yield a temp path beside `target`; it is removed unless the caller published it.
    An OSError while writing (disk full, file size limit) becomes a ConvertError."""
    tmp = temp_path_for(target)
    try:
        yield tmp
    except OSError as e:
        raise _write_failure(target, e) from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
