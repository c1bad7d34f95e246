"""Coded clips kept in memory, so that stepping through frames or switching back to an earlier rate
point never re-runs the model. Least recently used clips are dropped above a memory limit, except
those on screen."""

from collections import OrderedDict

from nvc_gui.encoding import Encoding


class FrameCache:
    """An LRU store of `Encoding`s keyed by `CodingRequest.cache_key`, bounded in bytes."""

    def __init__(self, limit_bytes: int):
        self.limit_bytes = limit_bytes
        self._entries: OrderedDict[tuple, Encoding] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple) -> Encoding | None:
        """The cached clip for `key` (now most recently used), or None."""
        encoding = self._entries.get(key)
        if encoding is not None:
            self._entries.move_to_end(key)
        return encoding

    def put(self, encoding: Encoding, pinned: set[tuple] = frozenset()) -> list[Encoding]:
        """Store `encoding`, then drop least recently used clips not in `pinned` (nor `encoding`)
        until the cache fits its limit. Returns the dropped clips."""
        key = encoding.request.cache_key
        self._entries[key] = encoding
        self._entries.move_to_end(key)
        keep = set(pinned) | {key}
        dropped = []
        for old_key in list(self._entries):
            if self.nbytes() <= self.limit_bytes:
                break
            if old_key not in keep:
                dropped.append(self._entries.pop(old_key))
        return dropped

    def nbytes(self) -> int:
        """Memory held by all cached clips."""
        return sum(e.nbytes() for e in self._entries.values())

    def clear(self) -> list[Encoding]:
        """Drop everything; returns the dropped clips."""
        dropped = list(self._entries.values())
        self._entries.clear()
        return dropped
