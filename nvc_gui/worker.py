"""The background coder: nvc_core runs on one worker thread, never on the GUI thread.

Each `submit` starts a job and supersedes the running one (its `should_stop` turns true, nvc_core
raises `Cancelled` between two frames). Results reach the GUI thread through queued Qt signals."""

import os
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import torch
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from nvc_core.codec import decode_video, encode_video, recost_motion
from nvc_core.errors import Cancelled, NVCError
from nvc_core.weights import load_model
from nvc_gui.encoding import BITSTREAM_SUFFIX, CodingRequest


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


class _Job(QRunnable):
    """Runs one callable on the pool's thread."""

    def __init__(self, body: Callable[[], None]):
        super().__init__()
        self._body = body

    def run(self) -> None:
        self._body()


LOAD_JOB = 0           # job id of model loads (never superseded, never a running coding job)
WORKER_NICENESS = 10   # the worker thread runs at a lower CPU priority than the GUI thread


def _yield_cpu_to_gui() -> None:
    """Lower the CPU priority of the calling (worker) thread, so that the GUI thread is scheduled
    first when cores are scarce (Linux: the niceness of one thread; elsewhere nothing)."""
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        if current < WORKER_NICENESS:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)


ModelLoader = Callable[..., torch.nn.Module]   # load_model(weights, device=..., warn=...)


class Coder(QObject):
    """Owns the models and the worker thread; emits every job's frames, result or error."""

    model_ready = Signal(int)                      # model.num_rates
    notice = Signal(str)                           # a warning from load_model (e.g. random weights)
    frame_coded = Signal(int, object, int, int)    # job id, FrameAnalysis, done, total (0: unknown)
    finished = Signal(int, object)                 # job id, CodingOutcome
    failed = Signal(int, str)                      # job id, one-line message
    cancelled = Signal(int)                        # job id

    def __init__(self, parent: QObject | None = None, model_loader: ModelLoader = load_model):
        super().__init__(parent)
        self._load_model = model_loader
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._models: dict[tuple[str, str], torch.nn.Module] = {}   # used on the worker thread only
        self._current = 0
        self._tempdir = tempfile.TemporaryDirectory(prefix="nvc-gui-")

    def is_current(self, job: int) -> bool:
        return job == self._current

    def load(self, weights: str, device: str) -> None:
        """Load the model in the background, after any running job (emits `model_ready`). A failure
        is reported when a clip is coded with these weights."""
        self._pool.start(_Job(lambda: self._guarded(LOAD_JOB, lambda: self._model(weights, device))))

    def submit(self, request: CodingRequest) -> int:
        """Code `request` in the background, superseding the running job; returns the job id."""
        self._current += 1
        job = self._current
        run = lambda: self.finished.emit(job, self._code(job, request))
        self._pool.start(_Job(lambda: self._guarded(job, run)))
        return job

    def cancel(self) -> None:
        """Stop the running job at the next frame boundary."""
        self._current += 1

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker is idle (used at exit and by tests)."""
        return self._pool.waitForDone(msecs)

    def shutdown(self) -> None:
        """Cancel, wait for the worker, remove the temporary bitstreams."""
        self.cancel()
        self.wait()
        self._tempdir.cleanup()

    def _guarded(self, job: int, body: Callable[[], None]) -> None:
        """Run `body` on the worker thread, turning every exception into a signal."""
        _yield_cpu_to_gui()
        try:
            body()
        except Cancelled:
            self.cancelled.emit(job)
        except NVCError as error:
            self.failed.emit(job, str(error))
        except Exception as error:   # a bug or an unexpected failure: show it, keep the GUI alive
            traceback.print_exc()
            self.failed.emit(job, f"{type(error).__name__}: {error}")

    def _model(self, weights: str, device: str) -> torch.nn.Module:
        key = (weights, device)
        if key not in self._models:
            self._models[key] = self._load_model(weights or None, device=device, warn=self.notice.emit)
            self.model_ready.emit(self._models[key].num_rates)
        return self._models[key]

    def _code(self, job: int, request: CodingRequest) -> CodingOutcome:
        """Encode or decode `request`, streaming each record, then re-cost the motion latents with
        and without the temporal prior (what the live toggle shows)."""
        def on_frame(record, done: int, total: int | None) -> None:
            self.frame_coded.emit(job, record, done, total or 0)

        def should_stop() -> bool:
            return not self.is_current(job)

        if should_stop():         # superseded while waiting for the worker
            raise Cancelled()
        model = self._model(request.weights, request.device)

        if request.is_bitstream:
            result = decode_video(request.source, model, on_frame=on_frame, should_stop=should_stop)
            bitstream = request.source
        else:
            bitstream = Path(self._tempdir.name) / f"job{job}{BITSTREAM_SUFFIX}"
            result = encode_video(request.source, bitstream, model, quality=request.quality,
                                  gop=request.gop, frames=request.frames,
                                  temporal_prior=request.temporal_prior, size=request.size,
                                  on_frame=on_frame, should_stop=should_stop)
        header = result.header
        costs = {tp: recost_motion(model, result.records, header.quality, tp) for tp in (True, False)}
        coded_prior = next((r.temporal_prior for r in result.records if r.frame_type == "P"),
                           request.temporal_prior)
        return CodingOutcome(quality=header.quality, gop=header.gop,
                             fps=Fraction(header.fps_num, header.fps_den), bitstream=bitstream,
                             temporal_prior=coded_prior, motion_costs=costs, records=result.records)
