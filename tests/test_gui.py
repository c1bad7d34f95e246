"""nvc_gui end to end: open a tiny clip, code it in the background, step through frames, toggle the
temporal prior live, compare, export, report errors, stay responsive, headless screenshot."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDropEvent, QImage, QKeySequence
from PySide6.QtWidgets import QPushButton

from nvc_core.codec import decode_video, encode_video
from nvc_core.color import rgb_to_yuv420
from nvc_core.video_io import VideoWriter, open_video
from nvc_gui import app, main_window
from nvc_gui.encoding import Status
from nvc_gui.main_window import MainWindow
from nvc_gui.views.image_view import ImageView
from nvc_gui.settings import Settings
from nvc_gui.worker import Coder

pg.setConfigOptions(imageAxisOrder="row-major")
REPO = Path(__file__).resolve().parents[1]
CODING_TIMEOUT_MS = 120_000
FRAMES = 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """64x64, FRAMES frames of texture panning right 2 px a frame, .y4m."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:64, 0:64 + 2 * FRAMES]
    base = np.stack([128 + 90 * np.sin(xx / 4.0 + c) * np.cos(yy / 6.0 - c) for c in range(3)], -1)
    base = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("clip") / "pan.y4m"
    with VideoWriter(path, 64, 64, fps=25) as writer:
        for i in range(FRAMES):
            writer.write(np.ascontiguousarray(base[:, 2 * i:2 * i + 64]))
    return path


@pytest.fixture
def errors(monkeypatch) -> list[str]:
    """Messages the window would show in a message box (recorded instead of blocking)."""
    shown: list[str] = []
    monkeypatch.setattr(main_window.QMessageBox, "critical", lambda _parent, _title, text: shown.append(text))
    return shown


@pytest.fixture
def window(qtbot, tmp_path, lively_model, errors) -> MainWindow:
    """An interactive window with its own settings file and the conftest's lively random model."""
    settings = Settings.defaults()
    settings.weights, settings.frames, settings.quality = "random", FRAMES, 2
    store = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    coder = Coder(model_loader=lambda weights, device: lively_model)
    win = MainWindow(settings, store, coder)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitUntil(lambda: not win.is_busy(), timeout=CODING_TIMEOUT_MS)   # the start-up model load
    yield win
    win.close()


def code(qtbot, win: MainWindow, path: Path) -> None:
    """Open `path` and wait until everything is coded."""
    with qtbot.waitSignal(win.idle, timeout=CODING_TIMEOUT_MS):
        win.open_path(path)


def test_starts_on_a_page_offering_the_sample_clip(window):
    assert window.central.currentWidget() is window.welcome
    sample = Settings.defaults().sample_clip()
    assert sample is not None and sample.exists()
    assert any(sample.name in b.text() for b in window.welcome.findChildren(QPushButton))


def test_codes_clip_and_navigates(qtbot, window, clip, errors):
    code(qtbot, window, clip)
    assert not errors
    assert window.frame_count() == FRAMES
    assert [window.table.cell_text(i, "type") for i in range(FRAMES)] == ["I", "P", "P", "P"]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    for key, expected in ((Qt.Key.Key_Home, 0), (Qt.Key.Key_Right, 1), (Qt.Key.Key_End, FRAMES - 1),
                          (Qt.Key.Key_Left, FRAMES - 2)):
        qtbot.keyClick(window, key)
        assert window.current_context().index == expected
    record = window.current_context().record
    assert np.array_equal(window.reconstruction.native_image(), record.reconstruction)
    assert window.prediction.native_image().shape == (64, 64, 3)
    assert window.bitmap.latent.currentText() == "motion.y"
    assert window.bitmap.image.native_image().shape[:2] == record.bit_maps["motion.y"].shape[1:]
    assert [v.native_image().shape[:2] for v in window.flows.scales] == [f.shape[:2] for f in record.flows]
    window.flows.show_arrows.setChecked(True)
    window.flows.upsampled.setChecked(True)
    assert all(v.native_image().shape[:2] == (64, 64) for v in window.flows.scales)
    window.set_frame(0)                    # I-frame: no motion coder, the bit map follows to intra.y
    assert window.bitmap.latent.currentText() == "intra.y"
    window.set_frame(1)
    assert window.bitmap.latent.currentText() == "motion.y"
    bitstream = window.controller.a.bitstream_for(True)           # the file's structure, as nvc info
    last = window.structure.rowCount() - 1                      # header, FRAMES chunks, one GOP's CRC
    assert last == FRAMES + 1 and window.structure.row_cells(2)[3] == "P"
    assert window.structure.row_cells(last)[0] == f"CRC frames 0-{FRAMES - 1}"
    assert int(window.structure.row_cells(last)[1]) + int(window.structure.row_cells(last)[2]) == \
        bitstream.stat().st_size
    window.plane.setCurrentText("Cb")                             # one Y'CbCr plane in the frame views
    assert window.reconstruction.title_text().startswith("Reconstruction: Cb (bt709")
    assert window.reconstruction.native_image().shape == (64, 64, 3)
    window.plane.setCurrentText("R'G'B'")
    assert np.array_equal(window.reconstruction.native_image(), window.current_context().record.reconstruction)


def test_clicking_a_plot_selects_the_frame(qtbot, window, clip):
    code(qtbot, window, clip)
    plot = window.plots.psnr
    (_, _), (y0, y1) = plot.vb.viewRange()
    graphics = plot.scene().views()[0]
    position = graphics.mapFromScene(plot.vb.mapViewToScene(QPointF(2.0, (y0 + y1) / 2)))
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=position)
    assert window.current_context().index == 2
    assert window.table.currentRow() == 2


def test_temporal_prior_toggle_compares_estimate_with_estimate(qtbot, window, clip):
    code(qtbot, window, clip)
    window.set_frame(FRAMES - 1)
    encoding = window.current_context().encoding
    record = encoding.records[FRAMES - 1]
    bits_in_file = window.table.cell_text(FRAMES - 1, "bits")
    map_on = window.bitmap.image.native_image().copy()
    reconstruction = window.reconstruction.native_image().copy()
    on, off = (float(window.table.cell_text(FRAMES - 1, c)) for c in ("ŷm on", "ŷm off"))
    # both states are estimates of one kind: the "on" estimate is the coded record's own estimate
    assert on == pytest.approx(record.bits_by_stream["motion.y"], rel=2e-3)
    saved = encoding.motion_estimate(FRAMES - 1, False) - encoding.motion_estimate(FRAMES - 1, True)
    assert window.table.cell_text(FRAMES - 1, "saved") == f"{saved:+.1f}"       # bits, not 3 digits
    assert window.table.header_text("bits") == "bits in file (TP on)"
    assert window.table.header_text("ŷm on").endswith("◀") and not window.table.header_text("ŷm off").endswith("◀")
    submitted = []
    window.coder.submit = submitted.append           # any re-coding would go through here
    window.controls.temporal_prior.setChecked(False)
    assert not submitted and not window.is_busy()
    assert window.table.cell_text(FRAMES - 1, "bits") == bits_in_file == str(record.bits)   # the file's bits
    assert not np.array_equal(window.bitmap.image.native_image(), map_on)
    assert "(estimate, temporal prior off)" in window.bitmap.image.title_text()
    assert np.array_equal(window.reconstruction.native_image(), reconstruction)
    assert f"{on:.1f} bits with temporal prior, {off:.1f} without" in window.timeline.label.full_text()
    assert window.table.header_text("bits") == "bits in file (TP on)"      # the file's setting, named
    assert window.table.header_text("ŷm off").endswith("◀")                # the estimate on screen
    window.bitmap.latent.setCurrentText("bits saved by temporal prior (motion.y)")
    assert window.bitmap.image.native_image() is not None
    for plot in (window.plots.bits, window.plots.prior):     # plain bits: no "mbits", "kbits"
        axis = plot.getAxis("left")
        assert axis.labelText == "bits" and not axis.labelUnits
    window.controls.temporal_prior.setChecked(True)
    assert window.table.cell_text(FRAMES - 1, "bits") == bits_in_file


def test_exported_bitstream_is_what_the_codec_writes(qtbot, window, clip, tmp_path, lively_model):
    code(qtbot, window, clip)
    records = window.current_context().encoding.records
    exported = tmp_path / "gui.nvc"
    window.export_bitstream(exported)
    direct = tmp_path / "direct.nvc"
    encode_video(clip, direct, lively_model, quality=2, gop=12, frames=FRAMES, temporal_prior=True)
    assert exported.read_bytes() == direct.read_bytes()
    decoded = decode_video(exported, lively_model).records
    assert all(np.array_equal(d.reconstruction, r.reconstruction) for d, r in zip(decoded, records))

    window.controls.temporal_prior.setChecked(False)   # not coded that way yet: coded for the export
    without = tmp_path / "gui_without_tp.nvc"
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.export_bitstream(without)
    assert without.exists() and without.read_bytes() != exported.read_bytes()
    decoded = decode_video(without, lively_model).records
    assert all(np.array_equal(d.reconstruction, r.reconstruction) for d, r in zip(decoded, records))


def test_opening_the_exported_bitstream_decodes_it(qtbot, window, clip, tmp_path):
    code(qtbot, window, clip)
    coded = [r.reconstruction for r in window.current_context().encoding.records]
    exported = tmp_path / "clip.nvc"
    window.export_bitstream(exported)
    code(qtbot, window, exported)
    decoded = window.current_context().encoding.records
    assert len(decoded) == FRAMES
    assert all(np.array_equal(r.reconstruction, c) for r, c in zip(decoded, coded))
    assert window.original.native_image() is None       # a bitstream has no original
    assert window.table.cell_text(1, "PSNR") == "–"
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.open_path(exported, reference=clip)     # with its source video: PSNR and MC gains
    encoded = window.cache.get(replace(window.controller.a.request, source=clip, quality=2, gop=12,
                                       frames=FRAMES, reference=None).cache_key)
    decoded = window.controller.a.records
    assert [r.psnr_rgb for r in decoded] == [r.psnr_rgb for r in encoded.records]
    assert window.table.cell_text(1, "PSNR") != "–" and window.table.cell_text(1, "MCN dB") != "–"
    assert window.controller.a.gains[1] == encoded.gains[1]


def test_exports(qtbot, window, clip, tmp_path):
    code(qtbot, window, clip)
    window.set_frame(2)
    window.active_view = window.error
    assert window.save_view(tmp_path / "view.png")
    assert QImage(str(tmp_path / "view.png")).size().toTuple() == (64, 64)
    assert window.save_window(tmp_path / "window.png")
    assert QImage(str(tmp_path / "window.png")).size().toTuple() == window.grab().size().toTuple()
    assert window.export_statistics(tmp_path / "stats.csv")
    assert len((tmp_path / "stats.csv").read_text().splitlines()) == FRAMES + 1
    assert window.export_statistics(tmp_path / "stats.json")
    rows = json.loads((tmp_path / "stats.json").read_text())["frames"]
    assert [r["type"] for r in rows] == ["I", "P", "P", "P"] and rows[1]["psnr_rgb"] is not None
    assert window.export_video(tmp_path / "decoded.y4m")
    with open_video(tmp_path / "decoded.y4m") as reader:
        assert len(reader.read()) == FRAMES


def test_compare_mode_reuses_the_cache(qtbot, window, clip):
    code(qtbot, window, clip)
    window.compare_action.setChecked(True)             # B: same rate point, temporal prior off
    assert not window.is_busy()
    window.compare.layer.setCurrentText("bits motion.y")
    window.set_frame(2)
    assert np.abs(window.compare.diff.native_image().astype(int) - 128).max() > 0
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.compare.quality_b.setValue(0)            # another rate point: coded once
    window.compare.layer.setCurrentText("reconstruction")
    assert not np.array_equal(window.compare.a.native_image(), window.compare.b.native_image())
    submitted = []
    window.coder.submit = submitted.append
    for index in (0, 3, 1, 2):
        window.set_frame(index)
    window.compare.quality_b.setValue(2)               # back to A's rate point
    window.compare.quality_b.setValue(0)               # and to the cached B
    assert not submitted


def test_raw_yuv_without_size_in_the_name_asks_for_it(qtbot, window, clip, tmp_path, monkeypatch):
    with open_video(clip) as reader:
        raw = b"".join(plane.tobytes() for rgb in reader.read(2) for plane in rgb_to_yuv420(rgb))
    path = tmp_path / "raw.yuv"
    path.write_bytes(raw)
    asked = []
    monkeypatch.setattr(main_window.SizeDialog, "exec", lambda dialog: asked.append(dialog) or True)
    monkeypatch.setattr(main_window.SizeDialog, "frame_size", lambda dialog: (64, 64))
    code(qtbot, window, path)
    assert len(asked) == 1 and window.frame_count() == 2


def test_broken_files_give_a_message_not_a_crash(qtbot, window, tmp_path, errors):
    broken = tmp_path / "broken.nvc"
    broken.write_bytes(b"not a bitstream at all")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(broken))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.dropEvent(drop)                          # dragged and dropped onto the window
    code(qtbot, window, tmp_path / "missing.y4m")
    assert len(errors) == 2 and all("\n" not in e for e in errors)
    assert "bitstream" in errors[0] and "missing.y4m" in errors[1]
    assert window.isVisible()


def test_new_request_supersedes_and_cancel_stops(qtbot, window, clip, errors):
    window.open_path(clip)
    window.controls.quality.setValue(1)
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.code()
    assert window.current_context().encoding.quality == 1 and window.frame_count() == FRAMES
    window.controls.quality.setValue(0)
    window.code()
    window.cancel()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=CODING_TIMEOUT_MS)
    assert not errors


def test_event_loop_stays_responsive_while_coding(qtbot, window, clip):
    gaps: list[float] = []
    last = [time.perf_counter()]

    def probe() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(probe)
    timer.start()
    last[0] = time.perf_counter()
    code(qtbot, window, clip)
    timer.stop()
    worst_ms = 1000 * max(gaps)
    print(f"\nworst event-loop gap while coding: {worst_ms:.0f} ms over {len(gaps)} ticks")
    assert worst_ms < 1000        # generous: shared 2-core machine; typically far lower


def test_settings_are_remembered(qtbot, window, clip, tmp_path):
    code(qtbot, window, clip)
    window.controls.gop.setValue(7)
    window.close()
    remembered = Settings.load(QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat))
    assert remembered.gop == 7 and remembered.recent_files == [str(clip.resolve())]


def test_headless_screenshot(clip, tmp_path, capsys):
    out = tmp_path / "shot.png"
    status = app.main([str(clip), "--weights", "random", "--frames", "3", "--frame", "2",
                       "--screenshot", str(out)])
    assert status == 0
    assert QImage(str(out)).width() > 1000


def test_headless_bad_input_exits_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "main.py"), str(tmp_path / "nope.y4m"),
                             "--weights", "random", "--screenshot", str(tmp_path / "x.png")],
                            capture_output=True, text=True, timeout=300, cwd=REPO,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("nvc-gui: error:")]
    assert len(errors) == 1 and "nope.y4m" in errors[0]
    assert not (tmp_path / "x.png").exists()


def _unclipped(view: ImageView) -> bool:
    """The view has room for its image, and its colour bar (when shown) lies inside it."""
    if view.width() < 120 or view.height() < 90:
        return False
    if not view.colorbar.isVisible():
        return True
    graphics = view._graphics
    bar = graphics.mapFromScene(view.colorbar.sceneBoundingRect()).boundingRect()
    return graphics.rect().contains(bar)


def test_default_layout_at_1920x1200_clips_no_view(qtbot, window, clip):
    window.resize(1920, 1200)
    window._apply_default_layout()
    assert window.minimumSizeHint().width() <= 1920 and window.width() == 1920   # the window fits the screen
    code(qtbot, window, clip)
    window.set_frame(FRAMES - 1)
    qtbot.wait(100)
    shown = [v for v in window.image_views() if v.isVisible()]
    assert len(shown) == 4 + 2 + 5 + 2                      # frames, residual, flows, bit map, attention
    assert [v.title for v in shown if not _unclipped(v)] == []
    assert window.bitmap.image.colorbar.isVisible()
    for plot in window.plots._plots:
        assert plot.vb.height() >= 60 and plot.vb.width() >= 150
    window.compare_action.setChecked(True)
    qtbot.wait(100)
    shown = [v for v in window.image_views() if v.isVisible()]
    assert set(window.compare.image_views()) <= set(shown)
    assert [v.title for v in shown if not _unclipped(v)] == []
    for plot in window.plots._plots:                       # compare mode no longer squeezes the plots
        assert plot.vb.height() >= 60 and plot.vb.width() >= 150
    window.compare_action.setChecked(False)
    width = window.bitmap.image.width()
    window.toggle_maximised(window.bitmap.image)            # a double click on a view does the same
    qtbot.wait(50)
    assert window.bitmap.image.width() > 0.8 * window.width() and not window.original.isVisible()
    window.toggle_maximised(window.bitmap.image)
    qtbot.wait(50)
    assert window.original.isVisible() and abs(window.bitmap.image.width() - width) < 20


def test_opening_a_clip_clears_the_old_one(qtbot, window, clip, tmp_path, monkeypatch):
    code(qtbot, window, clip)
    assert window.reconstruction.native_image() is not None and window.table.rowCount() == FRAMES
    other = tmp_path / "other.y4m"
    shutil.copy(clip, other)
    monkeypatch.chdir(tmp_path)
    window.open_path(Path("other.y4m"))                     # nothing of the old clip while this one codes
    assert window.reconstruction.native_image() is None and window.bitmap.image.native_image() is None
    assert window.table.rowCount() == 0 and "other.y4m" in window.windowTitle()
    assert "coding other.y4m" in window.timeline.label.full_text()
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=CODING_TIMEOUT_MS)
    assert window.settings.recent_files[0] == str(other.resolve())     # absolute, once it opened


def test_a_file_that_fails_to_open_leaves_nothing_behind(qtbot, window, clip, tmp_path, errors):
    code(qtbot, window, clip)
    recent = list(window.settings.recent_files)
    broken = tmp_path / "broken.nvc"
    broken.write_bytes(b"not a bitstream at all")
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.open_path(broken)
    assert errors and "bitstream" in errors[-1]
    assert window.windowTitle() == "NVC analyzer"
    assert window.reconstruction.native_image() is None and window.frame_count() == 0
    assert window.central.currentWidget() is window.welcome
    assert window.settings.recent_files == recent and str(broken) not in window.settings.recent_files


def _cancel_after(window: MainWindow, frames: int) -> None:
    """Press Esc as soon as `frames` frames are on screen (while the worker goes on)."""
    escape = next(a for a in window.findChildren(QAction) if a.shortcut() == QKeySequence("Esc"))

    def on_frame(_job, _record, _gain, done, _total):
        if done == frames:
            escape.trigger()

    window.coder.frame_coded.connect(on_frame)


@pytest.mark.parametrize("frames", [2, FRAMES])           # FRAMES: Esc during the last frame
def test_cancel_is_explicit_and_what_was_coded_stays_usable(qtbot, window, clip, tmp_path, errors, frames):
    _cancel_after(window, frames)
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.open_path(clip)
    qtbot.wait(300)                                        # late frames of the cancelled job are dropped
    assert window.controller.a.status is Status.CANCELLED and not window.is_busy()
    assert window.frame_count() == frames
    assert f"CANCELLED: {frames} of {FRAMES} frames coded" in window.timeline.label.full_text()
    assert window.export_statistics(tmp_path / "stats.csv")
    assert len((tmp_path / "stats.csv").read_text().splitlines()) == frames + 1
    assert window.export_video(tmp_path / "partial.y4m")
    window.export_bitstream(tmp_path / "partial.nvc")
    assert "cancelled" in errors[-1] and not (tmp_path / "partial.nvc").exists()


def test_compare_b_title_follows_b_while_it_is_coded(qtbot, window, clip):
    code(qtbot, window, clip)
    window.compare_action.setChecked(True)
    window.compare.quality_b.setValue(0)
    assert window.compare.b.title_text().startswith("B: rate point 0") and "coding" in window.compare.b.title_text()
    assert window.compare.diff.title_text() == "B − A" and window.compare.split.title_text() == "A | B"   # not stale
    qtbot.waitUntil(lambda: not window.is_busy(), timeout=CODING_TIMEOUT_MS)
    title = window.compare.b.title_text()
    b = window.controller.b.records[window.current_context().index]
    assert title.startswith("B: rate point 0, temporal prior off · ") and f"{b.bits} bits" in title


def test_play_pause_are_icons_and_playback_loops(qtbot, window, clip):
    code(qtbot, window, clip)
    play = window.timeline.play
    assert play.text() == "" and not play.icon().isNull()
    paused_icon = play.icon().cacheKey()
    window.timeline.speed.setCurrentText("4×")
    window.timeline.loop.setChecked(True)
    window.set_frame(FRAMES - 1)
    play.setChecked(True)
    assert play.icon().cacheKey() != paused_icon
    assert window.timeline.interval_ms() == 10              # 25 fps, 4x
    qtbot.waitUntil(lambda: window.current_context().index == 0, timeout=2000)   # looped
    play.setChecked(False)


def test_gui_modules_do_not_import_torch():
    code = "import sys, nvc_gui.app, nvc_gui.main_window; print(sorted({'torch', 'nvc_core.codec'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.stdout.strip() == "[]", result.stderr


def test_quitting_does_not_wait_for_the_frame_being_coded(qtbot, window, clip):
    started = []
    window.coder._code = lambda job, request: started.append(job) or time.sleep(5)   # a very slow frame
    window.open_path(clip)
    qtbot.waitUntil(lambda: bool(started), timeout=5000)
    begin = time.perf_counter()
    window.close()
    assert time.perf_counter() - begin < 1.5


def test_compare_split_slider(qtbot, window, clip):
    code(qtbot, window, clip)
    window.compare_action.setChecked(True)
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.compare.quality_b.setValue(0)
    compare = window.compare
    window.set_frame(2)
    a, b = compare.a.native_image(), compare.b.native_image()
    assert not np.array_equal(a, b)
    compare.split_slider.setValue(0)
    assert np.array_equal(compare.split.native_image(), b)
    compare.split_slider.setValue(compare.split_slider.maximum())
    assert np.array_equal(compare.split.native_image(), a)
    compare.split_slider.setValue(compare.split_slider.maximum() // 4)      # A | B at x = 16 of 64
    split = compare.split.native_image()
    assert compare.split_column() == 16
    assert np.array_equal(split[:, :16], a[:, :16]) and np.array_equal(split[:, 16:], b[:, 16:])


def test_compare_mode_has_numbers_on_both_sides_and_b_keeps_its_settings(qtbot, window, clip):
    code(qtbot, window, clip)
    window.compare_action.setChecked(True)
    compare = window.compare
    assert not compare.prior_b.isChecked()               # B starts as A with the temporal prior off
    compare.prior_b.setChecked(True)                     # the user's choice...
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        compare.quality_b.setValue(0)
    assert compare.prior_b.isChecked() and window.controller.b.request.temporal_prior   # ...is kept
    window.compare_action.setChecked(False)
    window.compare_action.setChecked(True)
    assert compare.quality_b.value() == 0 and compare.prior_b.isChecked()
    window.set_frame(2)
    a, b = window.controller.a.records, window.controller.b.records
    assert window.table.cell_text(2, "B bits") == str(b[2].bits)
    assert window.table.cell_text(2, "ΔPSNR") == f"{b[2].psnr_rgb - a[2].psnr_rgb:+.2f}"
    assert list(window.plots.series("B bits")[1]) == [r.bits for r in b]
    b_encoding = window.controller.b                     # every plot has B: motion ŷ bits and prediction PSNR
    assert list(window.plots.series("B motion")[1]) == [b_encoding.motion_estimate(i, True) for i in range(1, FRAMES)]
    assert list(window.plots.series("B MS-MCN")[1]) == [g.psnr_prediction for g in b_encoding.gains[1:]]
    assert window.streams.row_cells("frame in the file")[1:3] == [f"{a[2].bits:.1f}", f"{b[2].bits:.1f}"]
    assert f"{b[2].bits} bits" in compare.b.title_text()
    compare.layer.choose("bits motion.y")
    assert compare.a.levels() == compare.b.levels()      # one colour scale for A and B


def test_a_truncated_bitstream_shows_failed_at_once(qtbot, window, clip, tmp_path, errors):
    code(qtbot, window, clip)
    exported = tmp_path / "clip.nvc"
    window.export_bitstream(exported)
    data = exported.read_bytes()
    truncated = tmp_path / "truncated.nvc"
    truncated.write_bytes(data[:-40])                    # the last frame is cut
    window.open_path(truncated)
    qtbot.waitUntil(lambda: bool(errors), timeout=CODING_TIMEOUT_MS)
    assert "truncated" in errors[-1]
    assert window.controller.a.status is Status.FAILED
    assert f"FAILED after {FRAMES - 1} of {FRAMES} frames" in window.timeline.label.full_text()


def test_a_failed_open_resets_every_title_and_axis(qtbot, window, clip, tmp_path, errors):
    code(qtbot, window, clip)
    window.set_frame(FRAMES - 1)
    assert window.flows.scales[0].title_text() != "f^0" and window.bitmap.image.title_text() != window.bitmap.image.title
    broken = tmp_path / "broken.nvc"
    broken.write_bytes(b"not a bitstream at all")
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.open_path(broken)
    for view in window.image_views():
        assert view.title_text() == view.title and view.readout() == "" and view.native_image() is None
    assert window.flows.hint.full_text() == "" and window.streams.rowCount() == 0
    assert all(len(c.getData()[0] if c.getData()[0] is not None else []) == 0
               for c in window.plots._curves.values())
    assert window.zoom_label.text() == ""


def test_changing_the_rate_point_keeps_the_frame(qtbot, window, clip):
    code(qtbot, window, clip)
    window.set_frame(2)
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.controls.quality.setValue(1)
    assert window.controller.a.request.quality == 1 and window.current_context().index == 2


def test_arrow_keys_step_frames_after_a_spin_box_had_focus(qtbot, window, clip):
    code(qtbot, window, clip)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.set_frame(1)
    window.controls.gop.setFocus()
    qtbot.waitUntil(window.controls.gop.hasFocus)
    qtbot.keyClick(window.controls.gop, Qt.Key.Key_Right)
    assert window.current_context().index == 2
    qtbot.keyClick(window.controls.gop, Qt.Key.Key_Left)
    assert window.current_context().index == 1
    assert window.controls.gop.value() == window.settings.gop     # the spin box kept its value


def test_go_to_frame_and_intra_frame_keys(qtbot, window, clip):
    window.controls.gop.setValue(2)                      # I P I P
    code(qtbot, window, clip)
    window.timeline.goto.setValue(3)
    assert window.current_context().index == 3
    window.step_to_intra(-1)
    assert window.current_context().index == 2
    window.step_to_intra(-1)
    assert window.current_context().index == 0
    window.step_to_intra(1)
    assert window.current_context().index == 2


def test_maximising_a_flow_scale_fills_the_window(qtbot, window, clip):
    code(qtbot, window, clip)
    window.set_frame(FRAMES - 1)
    view = window.flows.scales[0]
    window.toggle_maximised(view)
    qtbot.wait(50)
    assert view.width() > 0.8 * window.width() and view.height() > 0.6 * window.height()
    window.toggle_maximised(view)
    qtbot.wait(50)
    assert window.flows.isVisible() and view.width() < 0.5 * window.width()
    assert view.parentWidget() is window.flows.scales[1].parentWidget()    # back in its place


def test_no_zoom_is_shown_without_a_video(qtbot, window):
    window._set_active_view(window.reconstruction)
    assert window.zoom_label.text() == ""


def test_nvc_beside_x264_frame_by_frame(qtbot, window, clip, errors):
    code(qtbot, window, clip)
    window.classical.rate.setCurrentText("at CRF")
    window.classical.crf.setValue(30)
    with qtbot.waitSignal(window.idle, timeout=CODING_TIMEOUT_MS):
        window.classical_action.setChecked(True)          # entering the mode codes the chosen clip
    assert not errors and window.central.currentWidget() is window.classical
    x264 = window.controller.a.classical[("x264", 30.0)]
    window.set_frame(2)
    frame, record = x264.frames[2], window.current_context().record
    assert np.array_equal(window.classical.classical.native_image(), frame.reconstruction)
    assert np.array_equal(window.classical.nvc.native_image(), record.reconstruction)
    title = window.classical.classical.title_text()
    assert title.startswith(f"x264 CRF 30: P {frame.bits} bits, {frame.psnr_rgb:.2f} dB")
    assert window.classical.nvc_error.levels() == window.classical.classical_error.levels()
    assert list(window.plots.series("classical bits")[1]) == [f.bits for f in x264.frames]
    window.classical.rate.setCurrentText("at nvc's bits")    # not coded yet: said so
    assert window.classical.classical.native_image() is None and "press Code" in window.classical.status.full_text()
    window.classical_action.setChecked(False)
    assert window.central.currentWidget() is not window.classical and len(window.plots.series("classical bits")[0]) == 0


def test_the_latent_grid_follows_the_bit_maps_locked_scale(qtbot, window, clip):
    """Grid over the frame views and bit map panel showing the same latent (Σ channels): one scale,
    held by the bit map's lock from frame to frame; another channel in the panel: the grid's own 0..max."""
    from nvc_gui.views.scale import ScaleMode
    code(qtbot, window, clip)
    window.grid_controls.enabled.setChecked(True)
    window.set_frame(1)
    grid = window.frame_views[0].grid
    scale = window.bitmap.scale
    scale.set_mode(ScaleMode.FRAME)
    assert grid.levels() == window.bitmap.image.levels()
    scale.lock.setChecked(True)
    locked = window.bitmap.image.levels()
    window.set_frame(2)
    assert grid.levels() == window.bitmap.image.levels() == locked
    scale.lock.setChecked(False)
    scale.set_mode(ScaleMode.TYPED)                      # typed levels reach the grid at once
    scale.high.setValue(7.5)
    assert grid.levels() == window.bitmap.image.levels() and grid.levels()[1] == 7.5
    window.bitmap.channel.setValue(0)                    # one channel in the panel: other numbers
    assert grid.levels() == (0.0, float(grid.cell_bits().max()))
