"""The coding controller: which clips are on screen (A, and B in compare mode), which are being
coded or waiting to be, and the frame cache. No widgets: the window (or a test) gives it requests and
listens to its signals, as YUView's playlist/caching controller is separate from its views.

Rules: a new A supersedes everything queued; a running job goes on while its clip is still wanted
(A, B or queued), otherwise it is cancelled; a clip already cached, or being coded, is never coded
twice; Cancel stops at once (the clip becomes CANCELLED with the frames coded so far)."""

import time
from dataclasses import dataclass, replace
from typing import Callable

from PySide6.QtCore import QObject, Signal

from nvc_gui.encoding import ClassicalRequest, CodingRequest, Encoding, Status
from nvc_gui.frame_cache import FrameCache
from nvc_gui.worker import Coder, CodingOutcome


@dataclass
class Job:
    """A job to run: code `request` into `encoding` (a classical request: beside it), then call
    `then` (e.g. an export)."""

    request: CodingRequest | ClassicalRequest
    encoding: Encoding
    then: Callable[[], None] | None = None


class CodingController(QObject):
    """Schedules the coder's jobs for the clips on screen and keeps their results."""

    changed = Signal(object)          # an Encoding got frames or changed status
    progress = Signal(str, int, int)  # text, frames done, total (0: unknown)
    busy_changed = Signal(bool)
    idle = Signal()                   # nothing is being coded or waiting to be
    failed = Signal(str, object)      # one-line message, the Encoding that failed
    message = Signal(str)             # a passing note for the status bar
    warning = Signal(str)             # a note that stays: a decoded stream drifted from its encoder

    def __init__(self, coder: Coder, cache: FrameCache, parent: QObject | None = None):
        super().__init__(parent)
        self.coder, self.cache = coder, cache
        self.a: Encoding | None = None
        self.b: Encoding | None = None
        self._queue: list[Job] = []
        self._running: tuple[int, Job] | None = None
        self._started = 0.0
        coder.frame_coded.connect(self._on_frame_coded)
        coder.finished.connect(self._on_finished)
        coder.classical_finished.connect(self._on_classical_finished)
        coder.failed.connect(self._on_failed)

    # -- what is on screen -------------------------------------------------------------------------
    def show(self, request: CodingRequest, b_request: CodingRequest | None = None) -> None:
        """Show `request` as A (and `b_request` as B): cached, being coded, or coded now; whatever
        else was queued is dropped."""
        self._queue.clear()
        self.a = self._obtain(request)
        self.b = self._obtain_b(b_request)
        self._run_queue()

    def set_b(self, request: CodingRequest | None) -> None:
        """Compare A with `request` (None: leave compare mode)."""
        self.b = self._obtain_b(request)
        self._run_queue()

    def close(self) -> None:
        """Nothing on screen any more (e.g. the clip failed to open)."""
        self._queue.clear()
        self.a = self.b = None
        self._run_queue()

    def cancel(self) -> None:
        """Stop coding now: the running clip becomes CANCELLED with the frames it has."""
        self._queue.clear()
        if self._running is None:
            return
        encoding = self._running[1].encoding
        self._running = None
        self.coder.cancel()
        if not encoding.complete:
            encoding.status = Status.CANCELLED
            self.changed.emit(encoding)
        self.message.emit(f"cancelled after {len(encoding.records)} coded frames")
        self._run_queue()

    def code_bitstream(self, encoding: Encoding, temporal_prior: bool, then: Callable[[], None]) -> None:
        """Code `encoding` again, with `temporal_prior`, for its bitstream only; then call `then`."""
        request = replace(encoding.request, temporal_prior=temporal_prior)
        self._queue.insert(0, Job(request, encoding, then))
        self._run_queue()

    def code_classical(self, request: ClassicalRequest) -> None:
        """Code A's frames with a classical coder (after what is queued); the result goes to
        `a.classical[request.key]`."""
        if self.a is not None:
            self._queue.append(Job(request, self.a))
            self._run_queue()

    def is_busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    # -- scheduling --------------------------------------------------------------------------------
    def _obtain(self, request: CodingRequest) -> Encoding:
        """The clip for `request`: cached, being coded, or queued now."""
        key = request.cache_key
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if self._running is not None and self._running[1].request.cache_key == key:
            return self._running[1].encoding
        # a bitstream's rate point and GOP come from its header once it is decoded
        encoding = Encoding(request, quality=request.quality, gop=request.gop)
        self._queue.append(Job(request, encoding))
        return encoding

    def _obtain_b(self, request: CodingRequest | None) -> Encoding | None:
        """The compared clip: A itself when only the temporal prior differs."""
        if request is None:
            return None
        return self.a if request.cache_key == self.a.request.cache_key else self._obtain(request)

    def _run_queue(self) -> None:
        """Start the next queued job unless the running one is still wanted."""
        wanted = {id(self.a), id(self.b)} | {id(job.encoding) for job in self._queue}
        if self._running is not None:
            if id(self._running[1].encoding) in wanted:
                return
            self.coder.cancel()
            self._running = None
        if not self._queue:
            self.busy_changed.emit(False)
            self.idle.emit()
            return
        job = self._queue.pop(0)
        classical = isinstance(job.request, ClassicalRequest)
        submit = self.coder.submit_classical if classical else self.coder.submit
        self._running = (submit(job.request), job)
        self._started = time.perf_counter()
        self.busy_changed.emit(True)
        self.progress.emit(f"coding with {job.request.codec}…" if classical else "starting…", 0, 0)

    def _job(self, job: int) -> Job | None:
        """The entry of `job` if it is the running job (results of superseded jobs are dropped)."""
        return self._running[1] if self._running is not None and self._running[0] == job else None

    def _on_frame_coded(self, job: int, record, gain, done: int, total: int) -> None:
        entry = self._job(job)
        if entry is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-6)
        verb = "decoding" if entry.request.is_bitstream else "coding"
        self.progress.emit(f"{verb} {done}/{total or '?'}  {done / elapsed:.2f} frames/s", done, total)
        encoding = entry.encoding
        if encoding.complete:        # re-coded only for its bitstream: records already known
            return
        encoding.add_frame(record, gain, total or None)
        self.changed.emit(encoding)

    def _on_finished(self, job: int, outcome: CodingOutcome) -> None:
        entry = self._job(job)
        if entry is None:
            return
        self._running = None
        encoding = entry.encoding
        encoding.bitstreams[outcome.temporal_prior] = outcome.bitstream
        if not encoding.complete:
            encoding.records, encoding.gains = outcome.records, outcome.gains
            encoding.quality, encoding.fps, encoding.gop = outcome.quality, outcome.fps, outcome.gop
            encoding.motion_costs, encoding.matrix = outcome.motion_costs, outcome.matrix
            encoding.status = Status.COMPLETE
            on_screen = {e.request.cache_key for e in (self.a, self.b) if e is not None}
            for dropped in self.cache.put(encoding, pinned=on_screen):
                _remove_bitstreams(dropped)
        elapsed = time.perf_counter() - self._started
        self.message.emit(f"{len(encoding.records)} frames in {elapsed:.1f} s")
        if outcome.warning:
            self.warning.emit(outcome.warning)
        if entry.then is not None:
            entry.then()
        self._run_queue()
        self.changed.emit(encoding)

    def _on_classical_finished(self, job: int, clip) -> None:
        entry = self._job(job)
        if entry is None:
            return
        self._running = None
        entry.encoding.classical[entry.request.key] = clip
        self.message.emit(f"{clip.describe()} in {time.perf_counter() - self._started:.1f} s")
        self._run_queue()
        self.changed.emit(entry.encoding)

    def _on_failed(self, job: int, message: str) -> None:
        entry = self._job(job)
        if entry is None:
            return
        self._running = None
        self._queue.clear()
        if isinstance(entry.request, ClassicalRequest):    # the clip itself is fine
            self.failed.emit(message, entry.encoding)
            self._run_queue()
            return
        entry.encoding.status = Status.FAILED
        self.failed.emit(message, entry.encoding)
        self._run_queue()


def _remove_bitstreams(encoding: Encoding) -> None:
    """Delete the temporary bitstreams of a clip dropped from the cache (never an opened .nvc)."""
    for path in encoding.bitstreams.values():
        if path != encoding.request.source:
            path.unlink(missing_ok=True)
