"""Guard against PySide6 builds that return None, True and False without a new reference.

PySide6 6.12 drops one reference to None (or to the bool) on every call that returns one (every void
method, every `emit`). CPython >= 3.12 does not notice (those objects are immortal, PEP 683); on
CPython 3.11 the count reaches zero after some thousand calls and the process aborts with "Fatal
Python error: none_dealloc". If this build drops references, we give the three singletons a
reference count that no program can exhaust, which is what CPython 3.12 does for them."""

import ctypes
import sys

from PySide6.QtCore import QPoint

_SINGLETONS = (None, True, False)
_PROBE_CALLS = 64
_IMMORTAL = 1 << 40


def _drops_references() -> bool:
    """Whether calling PySide6 methods returning None/bool loses references to them."""
    point = QPoint()
    before = [sys.getrefcount(s) for s in _SINGLETONS]
    for _ in range(_PROBE_CALLS):
        point.setX(1)        # returns None
        point.isNull()       # returns False
        point.setX(0)
        point.setY(0)
        point.isNull()       # returns True
    return any(sys.getrefcount(s) < b for s, b in zip(_SINGLETONS, before))


def protect_singletons() -> bool:
    """Make None/True/False immortal if this PySide6 drops references to them (CPython < 3.12).
    Returns whether the protection was applied."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12) or not _drops_references():
        return False
    for singleton in _SINGLETONS:
        ctypes.c_ssize_t.from_address(id(singleton)).value += _IMMORTAL   # ob_refcnt is the first field
    return True
