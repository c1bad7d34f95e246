"""nvc_gui.controller without a window: job queue, superseding, compare scheduling, cancel, cache."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal

from nvc_core.analysis import FrameRecord
from nvc_gui.controller import CodingController
from nvc_gui.encoding import CodingRequest, Status
from nvc_gui.frame_cache import FrameCache
from nvc_gui.worker import CodingOutcome

REQUEST = CodingRequest(Path("clip.y4m"), 3, 12, 2, True, "random", "cpu")


class FakeCoder(QObject):
    """Records what the controller asks; the test plays the worker's part by emitting its signals."""

    frame_coded = Signal(int, object, object, int, int)
    finished = Signal(int, object)
    classical_finished = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self):
        super().__init__()
        self.submitted: list[tuple[int, CodingRequest]] = []
        self.cancels = 0

    def submit(self, request: CodingRequest) -> int:
        self.submitted.append((len(self.submitted) + 1, request))
        return len(self.submitted)

    submit_classical = submit

    def cancel(self) -> None:
        self.cancels += 1

    def code_frame(self, job: int, index: int) -> None:
        record = FrameRecord(index=index, frame_type="I" if index == 0 else "P", temporal_prior=True,
                             height=4, width=4, reconstruction=np.zeros((4, 4, 3), np.uint8), bits=100)
        self.frame_coded.emit(job, record, None, index + 1, 2)

    def finish(self, job: int, records: list) -> None:
        prior = self.submitted[job - 1][1].temporal_prior
        self.finished.emit(job, CodingOutcome(3, 12, Fraction(25), Path(f"job{job}.nvc"), prior,
                                              {True: [None] * len(records), False: [None] * len(records)},
                                              records, [None] * len(records)))


@pytest.fixture
def coder(qtbot) -> FakeCoder:
    return FakeCoder()


@pytest.fixture
def controller(coder) -> CodingController:
    return CodingController(coder, FrameCache(1 << 30))


def _code_all(coder: FakeCoder, controller: CodingController, job: int) -> None:
    for index in range(2):
        coder.code_frame(job, index)
    encoding = next(e for e in (controller.a, controller.b) if e is not None and e.status is Status.CODING)
    coder.finish(job, list(encoding.records))


def test_a_clip_is_coded_once_then_comes_from_the_cache(coder, controller):
    controller.show(REQUEST)
    assert [r for _, r in coder.submitted] == [REQUEST] and controller.is_busy()
    controller.show(REQUEST)                        # the same clip again while it is coded: not twice
    assert len(coder.submitted) == 1
    _code_all(coder, controller, 1)
    assert controller.a.status is Status.COMPLETE and not controller.is_busy()
    first = controller.a
    controller.show(replace(REQUEST, quality=1))
    _code_all(coder, controller, 2)
    controller.show(replace(REQUEST, temporal_prior=False))   # same reconstructions: cached
    assert controller.a is first and len(coder.submitted) == 2


def test_a_new_clip_supersedes_the_running_one(coder, controller):
    controller.show(REQUEST)
    coder.code_frame(1, 0)
    old = controller.a
    controller.show(replace(REQUEST, source=Path("other.y4m")))
    assert coder.cancels == 1 and len(coder.submitted) == 2
    assert controller.a is not old and controller.a.records == []
    coder.code_frame(1, 1)                           # a late frame of the superseded job: dropped
    assert old.records and len(old.records) == 1 and controller.a.records == []


def test_compare_b_is_a_itself_or_queued_after_a(coder, controller):
    controller.show(REQUEST, replace(REQUEST, temporal_prior=False))
    assert controller.b is controller.a and len(coder.submitted) == 1
    controller.set_b(replace(REQUEST, quality=0))
    assert len(coder.submitted) == 1                 # A still running: B waits
    _code_all(coder, controller, 1)
    assert [r.quality for _, r in coder.submitted] == [3, 0]
    controller.set_b(None)                           # leaving compare mode stops coding B
    assert coder.cancels == 1 and not controller.is_busy()


def test_cancel_is_explicit_and_keeps_the_frames(coder, controller, qtbot):
    controller.show(REQUEST)
    coder.code_frame(1, 0)
    with qtbot.waitSignal(controller.idle):
        controller.cancel()
    assert controller.a.status is Status.CANCELLED and len(controller.a.records) == 1
    assert coder.cancels == 1 and not controller.is_busy()
    coder.finish(1, list(controller.a.records))    # the worker finished the last frame anyway
    assert controller.a.status is Status.CANCELLED
    controller.show(REQUEST)                         # coding again starts afresh
    assert len(coder.submitted) == 2 and controller.a.status is Status.CODING


def test_a_failure_is_reported_with_its_clip(coder, controller, qtbot):
    controller.show(REQUEST)
    with qtbot.waitSignal(controller.failed) as failed:
        coder.failed.emit(1, "bad file")
    assert failed.args == ["bad file", controller.a] and controller.a.status is Status.FAILED
    assert not controller.is_busy()


def test_a_bitstream_is_coded_again_for_an_export(coder, controller):
    controller.show(REQUEST)
    _code_all(coder, controller, 1)
    exported = []
    controller.code_bitstream(controller.a, False, lambda: exported.append(controller.a.bitstream_for(False)))
    assert coder.submitted[-1][1].temporal_prior is False
    coder.finish(2, list(controller.a.records))
    assert exported == [Path("job2.nvc")] and controller.a.bitstream_for(True) == Path("job1.nvc")


def test_a_classical_coding_runs_on_the_worker_and_lands_beside_a(coder, controller, qtbot):
    from nvc_gui.encoding import ClassicalRequest
    controller.show(REQUEST)
    _code_all(coder, controller, 1)
    request = ClassicalRequest(Path("clip.y4m"), None, 2, 12, "x264", None, 123456)
    controller.code_classical(request)
    assert coder.submitted[-1] == (2, request) and controller.is_busy()
    clip = type("Clip", (), {"describe": lambda self: "x264"})()
    coder.classical_finished.emit(2, clip)
    assert controller.a.classical[("x264", "nvc's bits")] is clip and not controller.is_busy()
    assert controller.a.status is Status.COMPLETE
    controller.code_classical(replace(request, crf=30.0, target_bits=None))
    with qtbot.waitSignal(controller.failed):
        coder.failed.emit(3, "ffmpeg failed")
    assert controller.a.status is Status.COMPLETE and ("x264", 30.0) not in controller.a.classical


def test_a_drifted_decode_is_a_warning_that_stays(coder, controller, qtbot):
    warnings: list[str] = []
    controller.warning.connect(warnings.append)
    controller.show(replace(REQUEST, source=Path("clip.nvc")))
    coder.code_frame(1, 0)
    records = controller.a.records[:]
    coder.finished.emit(1, replace(CodingOutcome(3, 12, Fraction(25), Path("clip.nvc"), True, {True: [None],
                                                 False: [None]}, records, [None]),
                                   warning="frames 0: reconstruction differs from the encoder's"))
    assert warnings == ["frames 0: reconstruction differs from the encoder's"]
    assert controller.a.status is Status.COMPLETE        # a drift is not a failure: the frames are shown


def test_the_worker_reports_the_decoders_drift(lively_model, small_clip, tmp_path, monkeypatch, qtbot):
    """A decoder whose float arithmetic differs (every convolution's output perturbed): the worker's
    outcome carries nvc_core's drift warning, and the frames are decoded."""
    from nvc_core.codec import encode_video
    from nvc_gui.worker import Coder
    from test_portable import _noisy_convolutions
    stream = tmp_path / "clip.nvc"
    encode_video(small_clip, stream, lively_model, quality=2, gop=12, frames=3)
    _noisy_convolutions(monkeypatch)
    worker = Coder(model_loader=lambda *_args, **_kwargs: lively_model)
    try:
        outcome = worker._code(worker._current, replace(REQUEST, source=stream))
    finally:
        worker.shutdown()
    drifted = [r.index for r in outcome.records if r.matches_encoder is False]
    assert drifted and len(outcome.records) == 3
    assert outcome.warning and "corrupt" not in outcome.warning and str(drifted[0]) in outcome.warning


def test_a_bitstream_with_its_source_is_measured_in_the_streams_matrix(lively_model, small_clip, tmp_path, qtbot):
    """PSNR-Y of a decoded BT.601 stream against its source: the encoder's numbers, not BT.709 luma."""
    from nvc_core.codec import encode_video
    from nvc_gui.worker import Coder
    stream = tmp_path / "clip.nvc"
    encoded = encode_video(small_clip, stream, lively_model, quality=2, gop=12, frames=2, matrix="bt601",
                           stats_path=tmp_path / "s.json")
    worker = Coder(model_loader=lambda *_args, **_kwargs: lively_model)
    try:
        outcome = worker._code(worker._current, replace(REQUEST, source=stream, reference=small_clip))
    finally:
        worker.shutdown()
    assert outcome.matrix == "bt601"
    assert [r.psnr_y for r in outcome.records] == [r.psnr_y for r in encoded.records]
    assert [r.psnr_rgb for r in outcome.records] == [r.psnr_rgb for r in encoded.records]
