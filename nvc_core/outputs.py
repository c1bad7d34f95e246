"""The files one command writes: checked before any work, written to hidden temporaries next to their
paths, and published together at the end (all or nothing).

:func:`check_outputs` refuses an output that is one of the inputs or another output, whose folder does
not exist, or that exists and is something other than what the command replaces: a regular file, or
for a PNG-frame output (a path without suffix) a folder. A device, a pipe or a socket is never
replaced (renaming onto ``/dev/null`` would replace the device node). :class:`PendingFile` is one
such output; :func:`publish` renames a group of them onto their paths once every one is complete.
Messages name the output path, never the temporary.
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


def check_replaceable(path: Path) -> None:
    """Refuse to replace anything but a regular file, or a folder for a PNG-frame output."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise os_error(path, exc) from None
    folder_target = path.suffix == ""
    if stat.S_ISREG(mode) and not folder_target:
        return
    if stat.S_ISDIR(mode) and folder_target:
        return
    kind = "a folder" if stat.S_ISDIR(mode) else "a file" if stat.S_ISREG(mode) else "not a regular file"
    raise NVCError(f"{path}: exists and is {kind}; not overwriting it")


def check_outputs(inputs: Iterable[str | os.PathLike | None], outputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse bad output paths before any work is done (see the module docstring)."""
    ins = [Path(p) for p in inputs if p is not None]
    seen: list[Path] = []
    for out in (Path(p) for p in outputs if p is not None):
        if any(_same(out, i) for i in ins):
            raise NVCError(f"{out}: is an input of this command; not overwriting it")
        if any(_same(out, other) for other in seen):
            raise NVCError(f"{out}: given for two outputs")
        if not out.parent.is_dir():
            raise NVCError(f"{out}: folder {out.parent} does not exist")
        check_replaceable(out)
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

    def publish(self) -> None:
        try:
            self.file.close()
            check_replaceable(self.path)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise os_error(self.path, exc) from None

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def publish(outputs: Iterable[Publishable | None]) -> None:
    """Publish every output (renames only, once all are complete); on a failure drop the rest."""
    pending = [o for o in outputs if o is not None]
    for i, output in enumerate(pending):
        try:
            output.publish()
        except BaseException:
            for rest in pending[i:]:
                rest.abort()
            raise
