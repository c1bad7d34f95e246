"""The background coder: nvc_core runs on one worker thread, never on the GUI thread.

Each `submit` starts a job and supersedes the running one (its `should_stop` turns true, nvc_core
raises `Cancelled` between two frames, and after the last one). Results reach the GUI thread through
queued Qt signals. torch and the codec are imported on the worker thread, on first use, so that the
window appears before them; the thread is a daemon, so that quitting never waits for a frame."""

import os
import queue
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from nvc_core.errors import Cancelled, NVCError, VideoError
from nvc_gui.encoding import BITSTREAM_SUFFIX, ClassicalRequest, CodingRequest


@dataclass
class CodingOutcome:
    """What a finished job hands to the GUI besides the per-frame records already streamed."""

    quality: int
    gop: int
    fps: Fraction
    bitstream: Path
    temporal_prior: bool                  # the setting the bitstream's P-frames were coded with
    motion_costs: dict[bool, list]        # temporal_prior -> recost_motion(...) of the records
    records: list
    gains: list = field(default_factory=list)   # nvc_core.mc_gain.frame_gain per record
    matrix: str = "bt709"                       # the stream's Y'CbCr matrix (of its header)
    warning: str | None = None                  # decoding: frames that drifted from the encoder's (CodingResult)


LOAD_JOB = 0           # job id of model loads (never superseded, never a running coding job)
# The worker thread runs this much nicer than the process (the GUI thread): about half the CPU weight,
# so that the GUI is scheduled first, without starving the coding when other processes load the CPU
# (at +10 a loaded machine gave the worker a few percent of a core).
WORKER_NICENESS_STEP = 3


def _yield_cpu_to_gui() -> None:
    """Lower the CPU priority of the calling (worker) thread once, so that the GUI thread is scheduled
    first when cores are scarce (Linux: the niceness of one thread; elsewhere nothing)."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        thread = threading.get_native_id()
        process = os.getpriority(os.PRIO_PROCESS, os.getpid())
        if os.getpriority(os.PRIO_PROCESS, thread) <= process:
            os.setpriority(os.PRIO_PROCESS, thread, min(process + WORKER_NICENESS_STEP, 19))


def load_model(weights: str | None, device: str):
    """nvc_core.weights.load_model, imported (with torch) on first use, together with what coding
    needs (imported here, at the model load's priority, not at the coding thread's)."""
    import nvc_core.codec  # noqa: F401
    import nvc_core.mc_gain  # noqa: F401
    from nvc_core.weights import load_model as load
    return load(weights, device=device)


ModelLoader = Callable[..., object]   # load_model(weights, device=...) -> NVC


class Coder(QObject):
    """Owns the models and the worker thread; emits every job's frames, result or error."""

    model_ready = Signal(int)                             # model.num_rates
    frame_coded = Signal(int, object, object, int, int)   # job id, FrameRecord, gain, done, total (0: unknown)
    finished = Signal(int, object)                        # job id, CodingOutcome
    classical_finished = Signal(int, object)              # job id, nvc_core's ClassicalClip
    failed = Signal(int, str)                             # job id, one-line message

    def __init__(self, parent: QObject | None = None, model_loader: ModelLoader = load_model):
        super().__init__(parent)
        self._load_model = model_loader
        self._models: dict[tuple[str, str], object] = {}   # used on the worker thread only
        self._current = 0
        self._tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._tempdir = tempfile.TemporaryDirectory(prefix="nvc-gui-", ignore_cleanup_errors=True)
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="nvc-coder", daemon=True)
        self._thread.start()

    def is_current(self, job: int) -> bool:
        return job == self._current

    def load(self, weights: str, device: str) -> None:
        """Load the model in the background, after any running job (emits `model_ready`). A failure
        is reported when a clip is coded with these weights."""
        self._put(lambda: self._guarded(LOAD_JOB, lambda: self._model(weights, device)))

    def submit(self, request: CodingRequest) -> int:
        """Code `request` in the background, superseding the running job; returns the job id."""
        return self._submit(self.finished, self._code, request)

    def submit_classical(self, request: ClassicalRequest) -> int:
        """Code `request` with a classical coder in the background (as `submit`)."""
        return self._submit(self.classical_finished, self._code_classical, request)

    def _submit(self, done: Signal, work: Callable[[int, object], object], request) -> int:
        """A new job (superseding the running one) that emits `done` with what `work` returns."""
        self._current += 1
        job = self._current
        run = lambda: self._emit(done, job, work(job, request))
        self._put(lambda: self._guarded(job, run))
        return job

    def cancel(self) -> None:
        """Stop the running job at the next frame boundary."""
        self._current += 1

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker is idle or `timeout` seconds passed; True if idle."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def shutdown(self, timeout: float = 0.25) -> None:
        """Cancel and stop the worker, waiting at most `timeout` seconds for a frame in progress (the
        daemon thread does not keep the process alive); remove the temporary bitstreams."""
        self.cancel()
        self._closed = True
        self._tasks.put(None)
        self.wait(timeout)
        self._tempdir.cleanup()

    def _put(self, task: Callable[[], None]) -> None:
        with self._idle:
            self._pending += 1
        self._tasks.put(task)

    def _serve(self) -> None:
        while (task := self._tasks.get()) is not None:
            try:
                task()
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _guarded(self, job: int, body: Callable[[], None]) -> None:
        """Run `body` on the worker thread, turning every exception into a signal. The model loads at
        the process's priority (the window is idle then); coding runs below the GUI thread."""
        if job != LOAD_JOB:
            _yield_cpu_to_gui()
        try:
            body()
        except Cancelled:      # superseded or cancelled: whoever did that already knows
            pass
        except NVCError as error:
            self._emit(self.failed, job, str(error))
        except Exception as error:   # a bug or an unexpected failure: show it, keep the GUI alive
            traceback.print_exc()
            self._emit(self.failed, job, f"{type(error).__name__}: {error}")

    def _emit(self, signal, *args) -> None:
        """Emit from the worker thread, unless the window (and with it this object) is gone."""
        if not self._closed:
            signal.emit(*args)

    def _model(self, weights: str, device: str):
        key = (weights, device)
        if key not in self._models:
            self._models[key] = self._load_model(weights or None, device=device)
            self._emit(self.model_ready, self._models[key].num_rates)
        return self._models[key]

    def _code(self, job: int, request: CodingRequest) -> CodingOutcome:
        """Encode or decode `request`, streaming each record with its motion-compensation gain, then
        re-cost the motion latents with and without the temporal prior (what the toggle shows)."""
        from nvc_core.codec import decode_video, encode_video, recost_motion
        from nvc_core.mc_gain import frame_gain

        def should_stop() -> bool:
            return not self.is_current(job)

        if should_stop():         # superseded while waiting for the worker
            raise Cancelled()
        model = self._model(request.weights, request.device)
        gains: list = []
        previous = None
        attach_source = _SourceFrames(request) if request.reference is not None else None

        def on_frame(record, done: int, total: int | None) -> None:
            nonlocal previous
            if attach_source is not None:
                attach_source(record)
            gains.append(None if previous is None else frame_gain(previous, record))
            previous = record
            self._emit(self.frame_coded, job, record, gains[-1], done, total or 0)

        if request.is_bitstream:
            try:
                result = decode_video(request.source, model, on_frame=on_frame, should_stop=should_stop)
            finally:
                if attach_source is not None:
                    attach_source.close()
            bitstream = request.source
        else:
            bitstream = Path(self._tempdir.name) / f"job{job}{BITSTREAM_SUFFIX}"
            result = encode_video(request.source, bitstream, model, quality=request.quality,
                                  gop=request.gop, frames=request.frames,
                                  temporal_prior=request.temporal_prior, size=request.size,
                                  on_frame=on_frame, should_stop=should_stop)
        costs = {}
        for prior in (True, False):
            if should_stop():     # cancelled during the last frame or the re-costing
                raise Cancelled()
            costs[prior] = recost_motion(model, result.records, result.header.quality, prior)
        header = result.header
        coded_prior = next((r.temporal_prior for r in result.records if r.frame_type == "P"),
                           request.temporal_prior)
        return CodingOutcome(quality=header.quality, gop=header.gop,
                             fps=Fraction(header.fps_num, header.fps_den), bitstream=bitstream,
                             temporal_prior=coded_prior, matrix=header.matrix, motion_costs=costs,
                             records=result.records,
                             gains=gains, warning=result.drift_warning())


    def _code_classical(self, job: int, request: ClassicalRequest):
        """The source frames nvc coded, coded by x264/x265 and measured (nvc_core.evaluation)."""
        from nvc_core.evaluation.classical import code_classical
        from nvc_core.video_io import open_video
        with open_video(request.source, size=request.size, matrix=request.matrix) as reader:
            frames, fps = reader.read(request.frames), reader.fps
        return code_classical(frames, fps, request.codec, request.gop, crf=request.crf,
                              target_bits=request.target_bits, matrix=request.matrix,
                              should_stop=lambda: not self.is_current(job))


class _SourceFrames:
    """Gives each decoded record its source frame and nvc_core's metrics against it (a bitstream
    opened together with the video it was coded from)."""

    def __init__(self, request: CodingRequest):
        from nvc_core.bitstream import open_stream
        from nvc_core.video_io import open_video
        with open(request.source, "rb") as f:         # the metrics use the stream's Y'CbCr
            header = open_stream(f)
        self._matrix, self._full_range = header.matrix, header.full_range
        self._reader = open_video(request.reference, size=request.size, matrix=header.matrix,
                                  full_range=header.full_range)
        self._frames = iter(self._reader)
        self._name = request.reference.name

    def __call__(self, record) -> None:
        from nvc_core.metrics import frame_metrics
        original = next(self._frames, None)
        if original is None:
            raise VideoError(f"{self._name} has fewer frames than the bitstream")
        if original.shape != record.reconstruction.shape:
            raise VideoError(f"{self._name} is {original.shape[1]}x{original.shape[0]}, the bitstream "
                             f"{record.width}x{record.height}")
        record.original = original
        for key, value in frame_metrics(original, record.reconstruction, self._matrix, self._full_range).items():
            setattr(record, key, value)

    def close(self) -> None:
        self._reader.close()
