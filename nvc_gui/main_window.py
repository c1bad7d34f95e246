"""The analyzer window: opens a clip, has it coded in the background, and shows every panel for the
current frame. It holds no numbers of its own: panels draw what nvc_core returned."""

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut,
                           QShowEvent)
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QGridLayout, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QPushButton, QStackedWidget, QToolBar, QWidget)

from nvc_core.errors import VideoError
from nvc_core.video_io import open_video
from nvc_gui import export
from nvc_gui.controls import CodingControls
from nvc_gui.dialogs import SettingsDialog, SizeDialog
from nvc_gui.encoding import BITSTREAM_SUFFIX, CodingRequest, Encoding
from nvc_gui.frame_cache import FrameCache
from nvc_gui.plots import PlotsView
from nvc_gui.settings import Settings
from nvc_gui.timeline import FrameTable, Timeline
from nvc_gui.views.attention_view import AttentionView
from nvc_gui.views.base import FrameContext
from nvc_gui.views.bitmap_view import BitMapView
from nvc_gui.views.compare_view import CompareView
from nvc_gui.views.flow_view import FlowView
from nvc_gui.views.frame_views import NO_ORIGINAL, ErrorView, RecordImageView, ResidualView
from nvc_gui.views.image_view import ImageView, ViewLink
from nvc_gui.welcome import WelcomePage
from nvc_gui.worker import Coder, CodingOutcome

DEFAULT_SIZE = (1600, 1000)
VIDEO_FILTER = ("Videos and bitstreams (*.y4m *.yuv *.mp4 *.avi *.mkv *.nvc);;"
                "NVC bitstreams (*.nvc);;All files (*)")


@dataclass
class _Pending:
    """A job to run: code `request` into `encoding`, then call `then` (e.g. an export)."""

    request: CodingRequest
    encoding: Encoding
    then: Callable[[], None] | None = None


class MainWindow(QMainWindow):
    """Menus, docks and the flow: open -> code in the background -> show frame by frame."""

    error_reported = Signal(str)   # a one-line message (also shown in a message box when interactive)
    idle = Signal()                # nothing is being coded or waiting to be

    def __init__(self, settings: Settings, store: QSettings | None = None, coder: Coder | None = None,
                 interactive: bool = True):
        super().__init__()
        self.settings, self._store, self.interactive = settings, store, interactive
        self.coder = coder or Coder(self)
        self.cache = FrameCache(settings.cache_mb << 20)
        self._source: tuple[Path, tuple[int, int] | None] | None = None
        self._a: Encoding | None = None           # the clip on screen
        self._b: Encoding | None = None           # its comparison in compare mode
        self._index = 0
        self._follow = True                       # show each new frame while coding
        self._queue: list[_Pending] = []
        self._running: tuple[int, _Pending] | None = None
        self._started = 0.0
        self._num_rates = settings.quality + 1
        self.setWindowTitle("NVC analyzer")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self._build_panels()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._build_shortcuts()
        self._connect_coder()
        self._restore_window()
        self.coder.load(settings.weights, self._device())

    # -- construction ------------------------------------------------------------------------------
    def _build_panels(self) -> None:
        self.controls = CodingControls(self.settings)
        self.controls.recode_requested.connect(self.code)
        self.controls.prior_toggled.connect(self._on_prior_toggled)
        self.table = FrameTable()
        self.table.frame_selected.connect(self.set_frame)
        self.timeline = Timeline()
        self.timeline.frame_selected.connect(self.set_frame)
        self.timeline.play_toggled.connect(self._on_play_toggled)
        self._player = QTimer(self)
        self._player.timeout.connect(self._play_step)
        self.original = RecordImageView("Original", lambda r: r.original, NO_ORIGINAL)
        self.reconstruction = RecordImageView("Reconstruction", lambda r: r.reconstruction, "")
        self.prediction = RecordImageView("Prediction (MS-MCN)", lambda r: r.prediction,
                                          "no prediction (I-frame)")
        self.error = ErrorView()
        self.residual = ResidualView()
        self.flows = FlowView()
        self.attention = AttentionView()
        self.bitmap = BitMapView()
        self.compare = CompareView()
        self.compare.b_changed.connect(self._on_b_changed)
        self.plots = PlotsView()
        self.plots.frame_clicked.connect(self.set_frame)
        self.panels = [self.original, self.reconstruction, self.prediction, self.error, self.residual,
                       self.flows, self.attention, self.bitmap]
        self.view_link = ViewLink()
        for view in self.image_views():
            self.view_link.add(view)
            view.activated.connect(self._set_active_view)
        self.active_view: ImageView = self.reconstruction

        frames = QWidget()
        grid = QGridLayout(frames)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, view in enumerate((self.original, self.reconstruction, self.prediction, self.error)):
            grid.addWidget(view, i // 2, i % 2)
        self.welcome = WelcomePage(self.settings.sample_clip(), self.settings.recent_files)
        self.welcome.open_requested.connect(self._open_dialog)
        self.welcome.path_chosen.connect(self.open_path)
        self.central = QStackedWidget()
        self.central.addWidget(self.welcome)
        self.central.addWidget(frames)
        self.setCentralWidget(self.central)

    def image_views(self) -> list[ImageView]:
        """Every image view of the window (all zoom and pan together)."""
        views = []
        for panel in self.panels + [self.compare]:
            views += panel.image_views()
        return views

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.setCorner(Qt.Corner.BottomLeftCorner, left)           # plots span the views only
        docks = self._docks = {
            "Coding": self._dock("Coding", self.controls, left),
            "Frames": self._dock("Frames", self.table, left),
            "Flows": self._dock("Flows", self.flows, right),
            "Bit map": self._dock("Bit map", self.bitmap, right),
            "Attention": self._dock("Attention", self.attention, right),
            "Residual": self._dock("Residual", self.residual, right),
            "Plots": self._dock("Plots", self.plots, Qt.DockWidgetArea.BottomDockWidgetArea),
            "Compare": self._dock("Compare", self.compare, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self.splitDockWidget(docks["Coding"], docks["Frames"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["Flows"], docks["Attention"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["Flows"], docks["Bit map"], Qt.Orientation.Horizontal)
        self.splitDockWidget(docks["Attention"], docks["Residual"], Qt.Orientation.Horizontal)
        self.compare_dock = docks["Compare"]
        self.compare_dock.hide()
        timeline = QToolBar("Timeline", self)
        timeline.setObjectName("Timeline")
        timeline.addWidget(self.timeline)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, timeline)
        self._layout_pending = True       # default dock sizes, once the window has its size

    def _apply_default_layout(self) -> None:
        """Dock sizes as fractions of the window (used unless a saved layout was restored)."""
        width, height = self.width(), self.height()
        docks = self._docks
        self.resizeDocks([docks["Coding"], docks["Flows"], docks["Bit map"]],
                         [width // 6, width * 3 // 10, width // 7], Qt.Orientation.Horizontal)
        self.resizeDocks([docks["Plots"], docks["Coding"]], [height // 4, height // 6],
                         Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        for widget in (self.progress_label, self.progress, self.cancel_button):
            self.statusBar().addPermanentWidget(widget)
            widget.hide()

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self._action(menu, "&Open…", self._open_dialog, QKeySequence.StandardKey.Open)
        self._action(menu, "Open PNG &Folder…", self._open_folder_dialog)
        sample = self.settings.sample_clip()
        if sample is not None:
            self._action(menu, "Open &Sample Clip", lambda: self.open_path(sample))
        self.recent_menu = menu.addMenu("Open &Recent")
        self._fill_recent_menu()
        menu.addSeparator()
        self._action(menu, "Export &Bitstream (.nvc)…", self._export_bitstream)
        self._action(menu, "Export Statistics (&CSV)…", lambda: self._export_statistics("csv"))
        self._action(menu, "Export Statistics (&JSON)…", lambda: self._export_statistics("json"))
        self._action(menu, "Export &Decoded Video (.y4m)…", self._export_video)
        self._action(menu, "Save &View as PNG…", self._save_view)
        self._action(menu, "Save &Window as PNG…", self._save_window)
        menu.addSeparator()
        self._action(menu, "Se&ttings…", self._settings_dialog)
        self._action(menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        menu = self.menuBar().addMenu("&View")
        for dock in self.findChildren(QDockWidget):
            menu.addAction(dock.toggleViewAction())
        menu.addSeparator()
        self._action(menu, "&Fit All Views", self.view_link.fit_all)
        menu = self.menuBar().addMenu("&Coding")
        self._action(menu, "&Code Now", self.code, QKeySequence("Ctrl+R"))
        self._action(menu, "C&ancel", self.cancel, QKeySequence("Esc"))
        self.compare_action = self.compare_dock.toggleViewAction()
        self.compare_action.setText("Co&mpare Mode")
        self.compare_action.toggled.connect(self._on_compare_toggled)
        menu.addAction(self.compare_action)

    def _action(self, menu, text: str, slot: Callable, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _checked=False: slot())
        if shortcut is not None:
            action.setShortcut(shortcut)
        return action

    def _build_shortcuts(self) -> None:
        for key, slot in ((Qt.Key.Key_Left, lambda: self.step(-1)), (Qt.Key.Key_Right, lambda: self.step(1)),
                          (Qt.Key.Key_Home, lambda: self.set_frame(0)),
                          (Qt.Key.Key_End, lambda: self.set_frame(self.frame_count() - 1)),
                          (Qt.Key.Key_Space, self.timeline.play.toggle)):
            QShortcut(QKeySequence(key), self, activated=slot)

    def _connect_coder(self) -> None:
        self.coder.model_ready.connect(self._on_model_ready)
        self.coder.notice.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.coder.frame_coded.connect(self._on_frame_coded)
        self.coder.finished.connect(self._on_finished)
        self.coder.failed.connect(self._on_failed)
        self.coder.cancelled.connect(self._on_cancelled)

    def _restore_window(self) -> None:
        """The window size and dock layout of the last run, or the defaults."""
        if self._store is None:
            self.resize(*DEFAULT_SIZE)
            return
        geometry, state = self._store.value("window/geometry"), self._store.value("window/state")
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self.resize(*DEFAULT_SIZE)
        if isinstance(state, QByteArray) and self.restoreState(state):
            self._layout_pending = False
            self.compare_dock.hide()

    # -- opening and coding ------------------------------------------------------------------------
    def open_path(self, path: Path, size: tuple[int, int] | None = None) -> None:
        """Open a video or an .nvc bitstream and code (or decode) it. A raw .yuv whose name does not
        give its size asks for it (interactive mode)."""
        path = Path(path)
        if size is None and path.suffix.lower() == ".yuv" and path.is_file() and self.interactive:
            try:
                open_video(path).close()
            except VideoError:
                dialog = SizeDialog(path.name, self)
                if not dialog.exec():
                    return
                size = dialog.frame_size()
        self._source = (path, size)
        self.settings.add_recent(str(path))
        self._fill_recent_menu()
        self.save_settings()
        self.setWindowTitle(f"{path.name} — NVC analyzer")
        self.central.setCurrentIndex(1)
        self.compare.quality_b.setEnabled(path.suffix != BITSTREAM_SUFFIX)
        self._index, self._follow = 0, True
        self.code()

    def code(self) -> None:
        """Show the open clip coded with the current controls: from the cache at once, otherwise
        coded in the background (superseding whatever was being coded)."""
        if self._source is None:
            return
        self._queue.clear()
        request = self._request()
        self._a = self._obtain(request)
        self._b = self._obtain_b() if self.comparing() else None
        self._run_queue()
        self._refresh()

    def cancel(self) -> None:
        """Stop coding (what is coded so far stays on screen)."""
        self._queue.clear()
        if self._running is not None:
            self.coder.cancel()

    def is_busy(self) -> bool:
        return self._running is not None or bool(self._queue)

    def _device(self) -> str:
        return self.settings.device if self.settings.device != "cuda" or torch.cuda.is_available() else "cpu"

    def _request(self) -> CodingRequest:
        path, size = self._source
        controls = self.controls
        return CodingRequest(source=path, quality=controls.quality.value(), gop=controls.gop.value(),
                             frames=controls.frames.value() or None,
                             temporal_prior=controls.temporal_prior.isChecked(),
                             weights=self.settings.weights, device=self._device(), size=size)

    def _obtain(self, request: CodingRequest) -> Encoding:
        """The clip for `request`: cached, being coded, or queued now."""
        cached = self.cache.get(request.cache_key)
        if cached is not None:
            return cached
        if self._running is not None and self._running[1].request.cache_key == request.cache_key:
            return self._running[1].encoding
        # a bitstream's rate point and GOP come from its header once it is decoded
        encoding = Encoding(request, quality=request.quality, gop=request.gop)
        self._queue.append(_Pending(request, encoding))
        return encoding

    def _obtain_b(self) -> Encoding:
        """The compared clip: A itself when only the temporal prior differs."""
        quality = self.compare.quality_b.value()
        if quality == self._a.request.quality:
            return self._a
        return self._obtain(replace(self._a.request, quality=quality,
                                    temporal_prior=self.compare.prior_b.isChecked()))

    def _run_queue(self) -> None:
        """Start the next queued job unless the running one is still wanted."""
        wanted = {id(self._a), id(self._b)} | {id(p.encoding) for p in self._queue}
        if self._running is not None:
            if id(self._running[1].encoding) in wanted:
                return
            self.coder.cancel()
        if not self._queue:
            if self._running is None:
                self._show_progress(False)
                self.idle.emit()
            return
        pending = self._queue.pop(0)
        self._running = (self.coder.submit(pending.request), pending)
        self._started = time.perf_counter()
        self.progress.setRange(0, 0)
        self.progress_label.setText("starting…")
        self._show_progress(True)

    def _show_progress(self, visible: bool) -> None:
        for widget in (self.progress_label, self.progress, self.cancel_button):
            widget.setVisible(visible)

    def _job(self, job: int) -> _Pending | None:
        """The pending entry of `job` if it is the running job (results of superseded jobs are dropped)."""
        return self._running[1] if self._running is not None and self._running[0] == job else None

    def _on_model_ready(self, num_rates: int) -> None:
        self._num_rates = num_rates
        self.controls.set_num_rates(num_rates)

    def _on_frame_coded(self, job: int, record, done: int, total: int) -> None:
        pending = self._job(job)
        if pending is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-6)
        self.progress.setRange(0, total or 0)
        self.progress.setValue(done)
        verb = "decoding" if pending.request.is_bitstream else "coding"
        self.progress_label.setText(f"{verb} {done}/{total or '?'}  {done / elapsed:.2f} frames/s")
        encoding = pending.encoding
        if encoding.complete:        # re-coded only for its bitstream: records already known
            return
        encoding.records.append(record)
        encoding.total_frames = total or None
        if self._follow and encoding is self._a:
            self._index = len(encoding.records) - 1
        if encoding is self._a or encoding is self._b:
            self._refresh()

    def _on_finished(self, job: int, outcome: CodingOutcome) -> None:
        pending = self._job(job)
        if pending is None:
            return
        self._running = None
        encoding = pending.encoding
        encoding.bitstreams[outcome.temporal_prior] = outcome.bitstream
        if not encoding.complete:
            encoding.records = outcome.records
            encoding.quality, encoding.fps, encoding.gop = outcome.quality, outcome.fps, outcome.gop
            encoding.motion_costs = outcome.motion_costs
            encoding.complete = True
            on_screen = {e.request.cache_key for e in (self._a, self._b) if e is not None}
            for dropped in self.cache.put(encoding, pinned=on_screen):
                _remove_bitstreams(dropped)
        elapsed = time.perf_counter() - self._started
        self.statusBar().showMessage(f"{len(encoding.records)} frames in {elapsed:.1f} s", 10000)
        if pending.then is not None:
            pending.then()
        self._run_queue()
        if encoding is self._a or encoding is self._b:
            self._refresh()

    def _on_failed(self, job: int, message: str) -> None:
        if self._job(job) is None:
            return
        self._running = None
        self._queue.clear()
        self._show_progress(False)
        self.report_error(message)
        self.idle.emit()

    def _on_cancelled(self, job: int) -> None:
        if self._job(job) is None:
            return
        self._running = None
        self.statusBar().showMessage("coding cancelled", 5000)
        self._run_queue()

    def report_error(self, message: str) -> None:
        """Show a one-line error: status bar, `error_reported`, and a message box when interactive."""
        self.statusBar().showMessage(message)
        self.error_reported.emit(message)
        if self.interactive:
            QMessageBox.critical(self, "NVC analyzer", message)

    # -- frames ------------------------------------------------------------------------------------
    def frame_count(self) -> int:
        return len(self._a.records) if self._a is not None else 0

    def current_context(self) -> FrameContext | None:
        """The frame on screen, or None before the first frame is coded."""
        if not self.frame_count():
            return None
        return FrameContext(self._a, self._index, self.controls.temporal_prior.isChecked())

    def set_frame(self, index: int) -> None:
        """Show frame `index` (clamped to the coded frames)."""
        if not self.frame_count():
            return
        self._index = max(0, min(index, self.frame_count() - 1))
        self._follow = self._index == self.frame_count() - 1 and not (self._a and self._a.complete)
        self._show_frame()

    def step(self, delta: int) -> None:
        self.set_frame(self._index + delta)

    def _on_play_toggled(self, playing: bool) -> None:
        if playing and self._a is not None:
            self._player.start(max(1, round(1000 / float(self._a.fps))))
        else:
            self._player.stop()

    def _play_step(self) -> None:
        if self._index >= self.frame_count() - 1:
            self.timeline.play.setChecked(False)
        else:
            self.step(1)

    def _on_prior_toggled(self, _enabled: bool) -> None:
        """Live temporal-prior toggle: bits and maps switch to the re-costed motion bits."""
        self.settings.temporal_prior = self.controls.temporal_prior.isChecked()
        self._refresh()

    def _refresh(self) -> None:
        """Redraw the per-clip widgets (frame list, plots) and the current frame."""
        encoding, prior = self._a, self.controls.temporal_prior.isChecked()
        if encoding is None:
            return
        self._index = min(self._index, max(len(encoding.records) - 1, 0))
        self.table.show_encoding(encoding, prior)
        self.plots.show_encoding(encoding, prior)
        self.timeline.set_frames(len(encoding.records))
        self._show_frame()

    def _show_frame(self) -> None:
        context = self.current_context()
        if context is None:
            return
        for panel in self.panels:
            panel.show_frame(context)
        if self.comparing():
            b = (FrameContext(self._b, self._index, self.compare.prior_b.isChecked())
                 if self._b is not None and self._index < len(self._b.records) else None)
            self.compare.show_pair(context, b)
        record = context.record
        self.table.set_current(self._index)
        self.plots.set_current(self._index)
        total = self._a.total_frames or self.frame_count()
        psnr = f"  PSNR {record.psnr_rgb:.2f} dB" if record.psnr_rgb is not None else ""
        self.timeline.set_current(self._index, f"frame {self._index}/{total - 1} {record.frame_type}  "
                                  f"{self._a.frame_bits(self._index, context.temporal_prior):.0f} bits{psnr}")

    # -- compare mode ------------------------------------------------------------------------------
    def comparing(self) -> bool:
        return self.compare_action.isChecked()

    def _on_compare_toggled(self, on: bool) -> None:
        """Entering compare mode compares with the temporal prior switched (no re-coding needed);
        leaving it stops coding B."""
        if self._a is None:
            return
        if on:
            self.compare.set_b(self._a.request.quality, not self.controls.temporal_prior.isChecked(),
                               self._num_rates)
            self._on_b_changed()
        else:
            self._b = None
            self._run_queue()

    def _on_b_changed(self) -> None:
        if self._a is None:
            return
        self._b = self._obtain_b()
        self._run_queue()
        self._show_frame()

    # -- exports -----------------------------------------------------------------------------------
    def _save_path(self, title: str, name: str, pattern: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, title, name, pattern)
        return Path(path) if path else None

    def _stem(self) -> str:
        return f"{self._a.request.source.stem}_q{self._a.quality}_gop{self._a.gop}"

    def _complete_clip(self) -> Encoding | None:
        """The clip on screen if it is completely coded (else says why not)."""
        if self._a is None or not self._a.complete:
            self.report_error("nothing to export yet: wait until the clip is coded")
            return None
        return self._a

    def export_bitstream(self, destination: Path) -> None:
        """Copy the .nvc that nvc_core wrote for the clip under the current temporal-prior setting;
        if the clip was coded with the other setting, code that bitstream first (in the background)."""
        encoding = self._complete_clip()
        if encoding is None:
            return
        prior = self.controls.temporal_prior.isChecked()
        source = encoding.bitstream_for(prior)
        if source is None:
            request = replace(encoding.request, temporal_prior=prior)
            self._queue.insert(0, _Pending(request, encoding, lambda: self.export_bitstream(destination)))
            self._run_queue()
            return
        self._guarded(lambda: export.copy_bitstream(source, destination),
                      f"bitstream written to {destination}")

    def _guarded(self, write: Callable[[], None], done: str) -> bool:
        """Run an export, reporting a failure as an error message."""
        try:
            write()
        except (OSError, VideoError) as error:
            self.report_error(str(error))
            return False
        self.statusBar().showMessage(done, 10000)
        return True

    def _export_bitstream(self) -> None:
        if self._complete_clip() is None:
            return
        path = self._save_path("Export bitstream", f"{self._stem()}{BITSTREAM_SUFFIX}",
                               "NVC bitstream (*.nvc)")
        if path:
            self.export_bitstream(path)

    def export_statistics(self, destination: Path) -> bool:
        """Write the per-frame statistics as CSV, or JSON for a .json destination."""
        encoding = self._complete_clip()
        if encoding is None:
            return False
        rows = export.frame_statistics(encoding, self.controls.temporal_prior.isChecked())
        if destination.suffix.lower() == ".json":
            write = lambda: export.write_json(encoding, rows, destination)
        else:
            write = lambda: export.write_csv(rows, destination)
        return self._guarded(write, f"statistics written to {destination}")

    def _export_statistics(self, kind: str) -> None:
        if self._complete_clip() is not None:
            path = self._save_path("Export statistics", f"{self._stem()}.{kind}", f"*.{kind}")
            if path:
                self.export_statistics(path)

    def export_video(self, destination: Path) -> bool:
        """Write the reconstructions as .y4m."""
        encoding = self._complete_clip()
        return encoding is not None and self._guarded(lambda: export.write_video(encoding, destination),
                                                      f"decoded video written to {destination}")

    def _export_video(self) -> None:
        if self._complete_clip() is not None:
            path = self._save_path("Export decoded video", f"{self._stem()}.y4m", "Y4M video (*.y4m)")
            if path:
                self.export_video(path)

    def save_view(self, destination: Path) -> bool:
        """Save the active view's top layer as PNG at its own resolution."""
        image = self.active_view.native_image()
        if image is None:
            self.report_error(f"the view '{self.active_view.title}' shows nothing")
            return False
        return self._guarded(lambda: export.save_rgb_png(image, destination), f"view saved to {destination}")

    def _save_view(self) -> None:
        name = f"{self.active_view.title.split()[0].lower()}_{self._index}.png"
        path = self._save_path(f"Save view '{self.active_view.title}'", name, "PNG image (*.png)")
        if path:
            self.save_view(path)

    def save_window(self, destination: Path) -> bool:
        """Save the whole window as PNG."""
        return self._guarded(lambda: export.save_widget_png(self, destination),
                             f"window saved to {destination}")

    def _save_window(self) -> None:
        path = self._save_path("Save window", f"nvc_analyzer_{self._index}.png", "PNG image (*.png)")
        if path:
            self.save_window(path)

    def _set_active_view(self, view: ImageView) -> None:
        self.active_view = view
        self.statusBar().showMessage(f"active view: {view.title}", 3000)

    # -- files, settings, drag and drop ------------------------------------------------------------
    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or bitstream", "", VIDEO_FILTER)
        if path:
            self.open_path(Path(path))

    def _open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of PNG frames")
        if path:
            self.open_path(Path(path))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            self._action(self.recent_menu, path, lambda p=path: self.open_path(Path(p)))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    def _settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if not dialog.exec():
            return
        dialog.store(self.settings)
        self.cache.limit_bytes = self.settings.cache_mb << 20
        self.save_settings()
        self.code()

    def save_settings(self) -> None:
        """Remember the settings, window geometry and dock layout (if a store was given)."""
        if self._store is None:
            return
        self.controls.store(self.settings)
        self.settings.save(self._store)
        self._store.setValue("window/geometry", self.saveGeometry())
        self._store.setValue("window/state", self.saveState())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(Path(paths[0]))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._layout_pending:
            self._layout_pending = False
            self._apply_default_layout()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self._source = None            # a pending re-code (settling controls) finds nothing to code
        self._player.stop()
        self.coder.shutdown()
        super().closeEvent(event)


def _remove_bitstreams(encoding: Encoding) -> None:
    """Delete the temporary bitstreams of a clip dropped from the cache (never an opened .nvc)."""
    for path in encoding.bitstreams.values():
        if path != encoding.request.source:
            path.unlink(missing_ok=True)
