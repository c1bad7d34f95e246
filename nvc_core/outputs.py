"""The files one command writes: checked before any work, written to hidden temporaries next to their
paths, and published together at the end (all or nothing).

:func:`check_outputs` refuses an output that is one of the inputs or another output, whose folder does
not exist, or that exists and is something other than what the command replaces: a regular file, or
for a video output written as PNG frames (a path without suffix, listed in ``videos``) a folder. A
device, a pipe or a socket is never replaced (renaming onto ``/dev/null`` would replace the device
node). :class:`PendingFile` is one such output; :func:`publish` first finishes every output of a group
(flushes it to disk and checks its path again), and only when all are complete renames them onto their
paths, so that a full disk or a path that changed under the command publishes nothing.
Messages name the output path, never the temporary; cleaning up never raises over the error it follows.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Iterable, Protocol

from nvc_core.errors import NVCError


class Publishable(Protocol):
    path: Path

    def finish(self) -> None: ...

    def publish(self) -> None: ...

    def abort(self) -> None: ...


def temporary_sibling(path: Path) -> Path:
    """A fresh hidden name next to ``path``, for writing before the final rename."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def os_error(path: Path, exc: OSError) -> NVCError:
    """A one-line error naming ``path`` (not the temporary the OS error may mention)."""
    return NVCError(f"{path}: {exc.strerror or exc}")


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_replaceable(path: Path, folder: bool = False) -> None:
    """Refuse to replace anything but a regular file, or a folder for a PNG-frame output (``folder``)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise os_error(path, exc) from None
    folder_target = folder and path.suffix == ""
    if stat.S_ISREG(mode) and not folder_target:
        return
    if stat.S_ISDIR(mode) and folder_target:
        return
    kind = "a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode) else "not a regular file"
    raise NVCError(f"{path}: exists and is {kind}; not overwriting it")


def check_outputs(inputs: Iterable[str | os.PathLike | None], outputs: Iterable[str | os.PathLike | None],
                  videos: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse bad output paths before any work is done (see the module docstring); only the outputs
    also listed in ``videos`` may be (PNG-frame) folders."""
    ins = [Path(p) for p in inputs if p is not None]
    folders = [Path(p) for p in videos if p is not None]
    seen: list[Path] = []
    for out in (Path(p) for p in outputs if p is not None):
        if any(_same(out, i) for i in ins):
            raise NVCError(f"{out}: is an input of this command; not overwriting it")
        if any(_same(out, other) for other in seen):
            raise NVCError(f"{out}: given for two outputs")
        if not out.parent.is_dir():
            raise NVCError(f"{out}: folder {out.parent} does not exist")
        check_replaceable(out, folder=out in folders)
        seen.append(out)


class PendingFile:
    """A regular file written to a hidden temporary and renamed onto ``path`` by :meth:`publish`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tmp = temporary_sibling(self.path)
        try:
            self.file = open(self.tmp, "xb")
        except OSError as exc:
            raise os_error(self.path, exc) from None

    def write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise os_error(self.path, exc) from None

    def finish(self) -> None:
        """Put the whole file on disk (a full disk fails here, not after publishing) and check the path."""
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        except OSError as exc:
            raise os_error(self.path, exc) from None
        check_replaceable(self.path)

    def publish(self) -> None:
        """Rename the finished file onto its path."""
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise os_error(self.path, exc) from None

    def abort(self) -> None:
        quietly(self.file.close)
        quietly(self.tmp.unlink, missing_ok=True)


def quietly(cleanup, *args, **kwargs) -> None:
    """Run a clean-up step; an OSError there (a folder made read-only...) must not hide the error it follows."""
    try:
        cleanup(*args, **kwargs)
    except OSError:
        pass


def publish(outputs: Iterable[Publishable | None]) -> None:
    """Finish every output, then rename them all (renames only, once all are complete); on a failure
    drop the ones not yet published."""
    pending = [o for o in outputs if o is not None]
    published = 0
    try:
        for output in pending:
            output.finish()
        for output in pending:
            output.publish()
            published += 1
    except BaseException:
        for rest in pending[published:]:
            rest.abort()
        raise
