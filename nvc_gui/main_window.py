"""The analyzer window: menus, docks and views around a `CodingController` (which clips are coded,
queued, cached). It holds no numbers of its own: panels draw what nvc_core returned."""

from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (QAbstractSpinBox, QComboBox, QDockWidget, QFileDialog, QFormLayout, QGridLayout,
                               QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton, QStackedWidget,
                               QToolBar, QVBoxLayout, QWidget)

from nvc_core.errors import VideoError
from nvc_core.video_io import open_video
from nvc_gui import export
from nvc_gui.controller import CodingController
from nvc_gui.controls import CodingControls
from nvc_gui.dialogs import SettingsDialog, SizeDialog
from nvc_gui.encoding import BITSTREAM_SUFFIX, ClassicalRequest, CodingRequest, Encoding, Status
from nvc_gui.frame_cache import FrameCache
from nvc_gui.plots import PlotsView
from nvc_gui.settings import Settings
from nvc_gui.timeline import FrameTable, Timeline
from nvc_gui.views.attention_view import AttentionView
from nvc_gui.views.base import FrameContext
from nvc_gui.views.bitmap_view import ALL_CHANNELS, BitMapView
from nvc_gui.views.classical_view import ClassicalView
from nvc_gui.views.compare_view import CompareView
from nvc_gui.views.flow_view import FlowView
from nvc_gui.views.bitstream_view import BitstreamView
from nvc_gui.views.frame_views import NO_ORIGINAL, PLANES, ErrorView, RecordImageView, ResidualView
from nvc_gui.views.image_view import ImageView, ViewLink
from nvc_gui.views.latent_grid import LatentGridControls
from nvc_gui.views.pixel_view import PixelView
from nvc_gui.views.stream_table import StreamTable
from nvc_gui.welcome import WelcomePage
from nvc_gui.worker import Coder

DEFAULT_SIZE = (1600, 1000)
TITLE = "NVC analyzer"
VIDEO_FILTER = ("Videos and bitstreams (*.y4m *.yuv *.mp4 *.avi *.mkv *.nvc);;"
                "NVC bitstreams (*.nvc);;All files (*)")
SOURCE_FILTER = "Videos (*.y4m *.yuv *.mp4 *.avi *.mkv);;All files (*)"
WELCOME_PAGE, FRAMES_PAGE, COMPARE_PAGE, CLASSICAL_PAGE = range(4)


class _FrameStepKeys(QObject):
    """Left and Right step frames even while a spin box has the focus (it would take them as cursor
    keys): their shortcut-override event is kept from the spin box, so the window's shortcut fires."""

    KEYS = (Qt.Key.Key_Left, Qt.Key.Key_Right)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        return (event.type() == QEvent.Type.ShortcutOverride and event.key() in self.KEYS
                and event.modifiers() == Qt.KeyboardModifier.NoModifier)


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
        self.controller = CodingController(self.coder, self.cache, self)
        self._source: tuple[Path, tuple[int, int] | None, Path | None] | None = None
        self._opening: Path | None = None     # goes to Recent files once its first frame is coded
        self._index = 0                       # the frame on screen
        self._wanted = 0                      # the frame the user chose (kept while a clip is re-coded)
        self._follow = True                   # show each new frame while coding
        self._cursor: tuple[float, float] | None = None
        # while a view is maximised: (dock layout, the view, its layout, its place there, central page)
        self._maximised: tuple | None = None
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self._build_panels()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._build_shortcuts()
        self._connect()
        self._restore_window()

    def load_model(self) -> None:
        """Load the model in the background (called once the window is on screen)."""
        self.coder.load(self.settings.weights, self._device())

    # -- construction ------------------------------------------------------------------------------
    def _build_panels(self) -> None:
        self.controls = CodingControls(self.settings)
        self.controls.recode_requested.connect(self.code)
        self.controls.prior_toggled.connect(self._on_prior_toggled)
        self.grid_controls = LatentGridControls()
        self.grid_controls.changed.connect(self._show_frame)
        self.table = FrameTable()
        self.table.frame_selected.connect(self.set_frame)
        self.streams = StreamTable()
        self.structure = BitstreamView()
        self.structure.frame_selected.connect(self.set_frame)
        self.plane = QComboBox()
        self.plane.addItems(PLANES)
        self.plane.setToolTip("Original, reconstruction and prediction in colour or as one Y'CbCr plane")
        self.plane.currentTextChanged.connect(self._on_plane)
        self.pixel = PixelView()
        self.timeline = Timeline()
        self.timeline.frame_selected.connect(self.set_frame)
        self.timeline.step_requested.connect(self._play_step)
        self.original = RecordImageView("Original", lambda r: r.original, NO_ORIGINAL)
        self.reconstruction = RecordImageView("Reconstruction", lambda r: r.reconstruction, "")
        self.prediction = RecordImageView("Prediction (MS-MCN)", lambda r: r.prediction,
                                          "no prediction (I-frame)")
        self.error = ErrorView()
        self.residual = ResidualView()
        self.flows = FlowView()
        self.attention = AttentionView()
        self.bitmap = BitMapView()
        self.bitmap.scale.changed.connect(self._redraw_grid)          # after the panel's own redraw
        self.bitmap.channel.valueChanged.connect(self._redraw_grid)
        self.compare = CompareView()
        self.compare.b_changed.connect(self._on_b_changed)
        self.compare.set_num_rates(self.settings.quality + 1)
        self.classical = ClassicalView()
        self.classical.code_requested.connect(self.code_classical)
        self.classical.choice_changed.connect(self._refresh)
        self.plots = PlotsView()
        self.plots.frame_clicked.connect(self.set_frame)
        self.frame_views = [self.original, self.reconstruction, self.prediction]   # under the latent grid
        self.panels = [*self.frame_views, self.error, self.residual, self.flows, self.attention, self.bitmap]
        self.view_link = ViewLink()
        for view in self.image_views():
            self.view_link.add(view)
            view.activated.connect(self._set_active_view)
            view.maximise_requested.connect(self.toggle_maximised)
            view.hovered.connect(self._on_hovered)
            view.view.sigRangeChanged.connect(lambda *_args, v=view: self._on_range_changed(v))
        self.active_view: ImageView = self.reconstruction

        frames = QWidget()
        grid = QGridLayout(frames)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, view in enumerate((self.original, self.reconstruction, self.prediction, self.error)):
            grid.addWidget(view, i // 2, i % 2)
        self.welcome = WelcomePage(self.settings.sample_clip(), self.settings.recent_files)
        self.welcome.open_requested.connect(self._open_dialog)
        self.welcome.path_chosen.connect(self.open_path)
        self._maximised_page = QWidget()
        self._maximised_layout = QVBoxLayout(self._maximised_page)
        self._maximised_layout.setContentsMargins(0, 0, 0, 0)
        self.central = QStackedWidget()
        for page in (self.welcome, frames, self.compare, self.classical, self._maximised_page):
            self.central.addWidget(page)
        self.setCentralWidget(self.central)

    def image_views(self) -> list[ImageView]:
        """Every image view of the window (all zoom and pan together)."""
        views = []
        for panel in self.panels + [self.compare, self.classical]:
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
        self.setCorner(Qt.Corner.BottomLeftCorner, left)     # plots under the views and the right docks
        coding = QWidget()
        coding_layout = QVBoxLayout(coding)
        coding_layout.setContentsMargins(4, 4, 4, 4)
        coding_layout.addWidget(self.controls)
        planes = QFormLayout()
        planes.addRow("frame views show", self.plane)
        coding_layout.addLayout(planes)
        coding_layout.addWidget(self.grid_controls)
        docks = self._docks = {
            "Coding": self._dock("Coding", coding, left),
            "Pixel": self._dock("Pixel", self.pixel, left),
            "Frames": self._dock("Frames", self.table, left),
            "Sub-streams": self._dock("Sub-streams", self.streams, left),
            "Bitstream": self._dock("Bitstream", self.structure, left),
            "Flows": self._dock("Flows", self.flows, right),
            "Bit map": self._dock("Bit map", self.bitmap, right),
            "Attention": self._dock("Attention", self.attention, right),
            "Residual": self._dock("Residual", self.residual, right),
            "Plots": self._dock("Plots", self.plots, Qt.DockWidgetArea.BottomDockWidgetArea),
        }
        self.splitDockWidget(docks["Coding"], docks["Pixel"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["Pixel"], docks["Frames"], Qt.Orientation.Vertical)
        self.tabifyDockWidget(docks["Frames"], docks["Sub-streams"])
        self.tabifyDockWidget(docks["Sub-streams"], docks["Bitstream"])
        docks["Frames"].raise_()
        self.splitDockWidget(docks["Flows"], docks["Bit map"], Qt.Orientation.Horizontal)
        self.splitDockWidget(docks["Flows"], docks["Residual"], Qt.Orientation.Vertical)
        self.splitDockWidget(docks["Bit map"], docks["Attention"], Qt.Orientation.Vertical)
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
                         [width * 19 // 100, width * 22 // 100, width * 18 // 100], Qt.Orientation.Horizontal)
        self.resizeDocks([docks["Plots"], docks["Coding"], docks["Pixel"], docks["Flows"], docks["Bit map"]],
                         [height * 27 // 100, height * 24 // 100, height * 16 // 100, height * 42 // 100,
                          height * 36 // 100], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.zoom_label = QLabel()
        self.statusBar().addPermanentWidget(self.zoom_label)
        for widget in (self.progress_label, self.progress, self.cancel_button):
            self.statusBar().addPermanentWidget(widget)
            widget.hide()

    def _build_menus(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self._action(menu, "&Open…", self._open_dialog, QKeySequence.StandardKey.Open)
        self._action(menu, "Open PNG &Folder…", self._open_folder_dialog)
        self._action(menu, "Open Bitstream with Source &Video…", self._open_with_source_dialog)
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
        self._action(menu, "&Fit All Views", self.view_link.fit_all, QKeySequence("Ctrl+0"))
        self._action(menu, "Zoom &1:1", lambda: self.view_link.set_zoom(self.active_view, 1.0),
                     QKeySequence("Ctrl+1"))
        self._action(menu, "&Maximise Active View (or double-click a view)",
                     lambda: self.toggle_maximised(self.active_view), QKeySequence("Ctrl+M"))
        menu = self.menuBar().addMenu("&Coding")
        self._action(menu, "&Code Now", self.code, QKeySequence("Ctrl+R"))
        self._action(menu, "C&ancel", self.cancel, QKeySequence("Esc"))
        self.compare_action = menu.addAction("Co&mpare Mode")
        self.compare_action.setCheckable(True)
        self.compare_action.setShortcut(QKeySequence("Ctrl+D"))
        self.compare_action.toggled.connect(self._on_compare_toggled)
        self.classical_action = menu.addAction("nvc &Beside x264/x265")
        self.classical_action.setCheckable(True)
        self.classical_action.setShortcut(QKeySequence("Ctrl+B"))
        self.classical_action.toggled.connect(self._on_classical_toggled)

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
        for key, slot in (("Ctrl+Left", lambda: self.step_to_intra(-1)), ("Ctrl+Right", lambda: self.step_to_intra(1))):
            QShortcut(QKeySequence(key), self, activated=slot)
        self._step_keys = _FrameStepKeys(self)
        for spin in self.findChildren(QAbstractSpinBox):
            spin.installEventFilter(self._step_keys)

    def _connect(self) -> None:
        self.coder.model_ready.connect(self._on_model_ready)
        controller = self.controller
        controller.changed.connect(self._on_changed)
        controller.progress.connect(self._on_progress)
        controller.busy_changed.connect(self._show_progress)
        controller.idle.connect(self.idle)
        controller.failed.connect(self._on_failed)
        controller.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        controller.warning.connect(lambda text: self.statusBar().showMessage(f"warning: {text}"))

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

    # -- opening and coding ------------------------------------------------------------------------
    def open_path(self, path: Path, size: tuple[int, int] | None = None, reference: Path | None = None) -> None:
        """Open a video or an .nvc bitstream (with `reference`, its source video, for PSNR) and code
        (or decode) it; the previous clip leaves the screen. A raw .yuv whose name does not give its
        size asks for it (interactive mode)."""
        path = Path(path)
        size_of = reference if reference is not None else path
        if size is None and size_of.suffix.lower() == ".yuv" and size_of.is_file() and self.interactive:
            try:
                open_video(size_of).close()
            except VideoError:
                dialog = SizeDialog(size_of.name, self)
                if not dialog.exec():
                    return
                size = dialog.frame_size()
        self._source = (path, size, reference)
        self._opening = path
        self.setWindowTitle(f"{path.name} — {TITLE}")
        self.central.setCurrentIndex(self._page())
        self.compare.quality_b.setEnabled(path.suffix != BITSTREAM_SUFFIX)
        self._index = self._wanted = 0
        self._follow = True
        self.code()

    def code(self) -> None:
        """Show the open clip coded with the current controls: from the cache at once, otherwise
        coded in the background (superseding whatever was being coded)."""
        if self._source is None:
            return
        request = self._request()
        self.controller.show(request, self._b_request(request) if self.comparing() else None)
        self._refresh()

    def cancel(self) -> None:
        """Stop coding now (the frames coded so far stay on screen and can be exported)."""
        self.controller.cancel()

    def is_busy(self) -> bool:
        return self.controller.is_busy()

    def _device(self) -> str:
        if self.settings.device != "cuda":
            return self.settings.device
        import torch       # only for CUDA: the window must not wait for torch
        return "cuda" if torch.cuda.is_available() else "cpu"

    def _request(self) -> CodingRequest:
        path, size, reference = self._source
        controls = self.controls
        return CodingRequest(source=path, quality=controls.quality.value(), gop=controls.gop.value(),
                             frames=controls.frames.value() or None,
                             temporal_prior=controls.temporal_prior.isChecked(),
                             weights=self.settings.weights, device=self._device(), size=size,
                             reference=reference)

    def _b_request(self, a: CodingRequest) -> CodingRequest:
        return replace(a, quality=self.compare.quality_b.value(), temporal_prior=self.compare.prior_b.isChecked())

    def _on_model_ready(self, num_rates: int) -> None:
        self.controls.set_num_rates(num_rates)
        self.compare.set_num_rates(num_rates)

    def _on_progress(self, text: str, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress_label.setText(text)

    def _show_progress(self, visible: bool) -> None:
        for widget in (self.progress_label, self.progress, self.cancel_button):
            widget.setVisible(visible)

    def _on_changed(self, encoding: Encoding) -> None:
        if encoding is self.controller.a:
            if self._opening is not None and encoding.records:
                self._remember(self._opening)
            if self._follow and encoding.status is Status.CODING:
                self._wanted = len(encoding.records) - 1
            self._refresh()
        elif encoding is self.controller.b:
            self._refresh()

    def _remember(self, path: Path) -> None:
        """A clip that opened: first in Recent files (absolute path)."""
        self._opening = None
        self.settings.add_recent(str(path.resolve()))
        self._fill_recent_menu()
        self.save_settings()

    def _on_failed(self, message: str, encoding: Encoding) -> None:
        """A clip that could not be opened leaves nothing behind: no title, no images, no recent file."""
        if encoding is self.controller.a and not encoding.records:
            self._source = self._opening = None
            self.controller.close()
            self.setWindowTitle(TITLE)
            self.central.setCurrentIndex(WELCOME_PAGE)
        self._refresh()                 # FAILED at once, with the frames decoded before the failure
        self.report_error(message)

    def report_error(self, message: str) -> None:
        """Show a one-line error: status bar, `error_reported`, and a message box when interactive."""
        self.statusBar().showMessage(message)
        self.error_reported.emit(message)
        if self.interactive:
            QMessageBox.critical(self, TITLE, message)

    # -- frames ------------------------------------------------------------------------------------
    def frame_count(self) -> int:
        a = self.controller.a
        return len(a.records) if a is not None else 0

    def current_context(self) -> FrameContext | None:
        """The frame on screen, or None before the first frame is coded."""
        if not self.frame_count():
            return None
        return FrameContext(self.controller.a, self._index, self.controls.temporal_prior.isChecked())

    def set_frame(self, index: int) -> None:
        """Show frame `index` (clamped to the coded frames)."""
        if not self.frame_count():
            return
        self._index = self._wanted = max(0, min(index, self.frame_count() - 1))
        self._follow = self._index == self.frame_count() - 1 and self.controller.a.status is Status.CODING
        self._show_frame()

    def step(self, delta: int) -> None:
        self.set_frame(self._index + delta)

    def step_to_intra(self, direction: int) -> None:
        """Go to the next (1) or previous (-1) I-frame."""
        if not self.frame_count():
            return
        records = self.controller.a.records
        indices = range(self._index + 1, len(records)) if direction > 0 else range(self._index - 1, -1, -1)
        target = next((i for i in indices if records[i].frame_type == "I"), None)
        if target is not None:
            self.set_frame(target)

    def _play_step(self, frames: int) -> None:
        """Advance `frames` frames (more than one when drawing lags behind the clip's frame rate)."""
        last = self.frame_count() - 1
        if self._index + frames <= last:
            self.step(frames)
        elif self.timeline.loop.isChecked() and last >= 0:
            self.set_frame((self._index + frames) % (last + 1))
        else:
            self.set_frame(last)
            self.timeline.play.setChecked(False)

    def _on_prior_toggled(self, _enabled: bool) -> None:
        """The temporal prior of new codings and of the motion bit map shown (estimates both ways)."""
        self.settings.temporal_prior = self.controls.temporal_prior.isChecked()
        self._refresh()

    def _b_shown(self) -> Encoding | None:
        """B, when compare mode is on."""
        return self.controller.b if self.comparing() else None

    def _refresh(self) -> None:
        """Redraw the per-clip widgets (frame list, plots) and the current frame; with no coded frame
        (a clip just opened, or one that failed) every view is reset."""
        encoding = self.controller.a
        self.table.show_encoding(encoding, self._b_shown(), self.controls.temporal_prior.isChecked())
        self.plots.show_encoding(encoding, self._b_shown(), self.classical_clip())
        if encoding is None or not encoding.records:
            self._reset_views()
            name = "" if self._source is None else self._source[0].name
            self.timeline.set_current(0, f"{encoding.status.value} {name}…" if encoding else "no video")
            return
        self._index = min(self._wanted, len(encoding.records) - 1)
        self.timeline.set_frames(len(encoding.records), float(encoding.fps))
        self.structure.show_file(encoding.bitstream_for(encoding.coded_prior()) if encoding.complete
                                 or encoding.request.is_bitstream else None)
        self._show_frame()

    def _on_plane(self, plane: str) -> None:
        for view in self.frame_views:
            view.plane = plane
        self._show_frame()

    def _reset_views(self) -> None:
        """The one place that empties every view: titles, images, read-outs, axes, histograms, tables."""
        for panel in self.panels + [self.compare, self.classical, self.pixel, self.streams, self.structure]:
            panel.reset()
        self.table.show_encoding(None)
        self.plots.show_encoding(None)
        self.timeline.set_frames(0, 25.0)
        self.zoom_label.setText("")

    def _redraw_grid(self) -> None:
        """The latent grid of the current frame, over the bit map's levels where they apply."""
        self.grid_controls.apply(self.current_context(), self.frame_views, self._grid_levels())

    def _grid_levels(self) -> tuple[float, float] | None:
        """The bit map panel's levels when it shows the grid's latent summed over channels (the same
        numbers as the grid's cells), else None."""
        same = (self.bitmap.latent.currentText() == self.grid_controls.latent.currentText()
                and self.bitmap.channel.value() == ALL_CHANNELS)
        return self.bitmap.image.levels() if same else None

    def _show_frame(self) -> None:
        context = self.current_context()
        if context is None:
            return
        for panel in self.panels:
            panel.show_frame(context)
        self._redraw_grid()
        b = self._b_shown()
        b_context = None if b is None else FrameContext(b, self._index, self.compare.prior_b.isChecked())
        self.streams.show_frame(context, b_context)
        if b_context is not None:
            self.compare.show_pair(context, b_context)
        if self.classical_action.isChecked():
            self.classical.show_frame(context, self.classical_clip())
        if self._cursor is not None:
            self.pixel.show_pixel(context, *self._cursor)
        self.table.set_current(self._index)
        self.plots.set_current(self._index)
        self.timeline.set_current(self._index, self._describe(context))

    def _describe(self, context: FrameContext) -> str:
        """The timeline's line: position, coding state, bits, PSNR, motion estimates."""
        encoding, record, index = context.encoding, context.record, context.index
        coded = len(encoding.records)
        total = encoding.total_frames or coded
        state = {Status.COMPLETE: f"frame {index}/{coded - 1}",
                 Status.CODING: f"frame {index}  ({coded}/{total} coded)",
                 Status.CANCELLED: f"frame {index}  (CANCELLED: {coded} of {total} frames coded)",
                 Status.FAILED: f"frame {index}  (FAILED after {coded} of {total} frames)"}[encoding.status]
        text = f"{state}  {record.frame_type}  {encoding.frame_bits(index)} bits"
        if record.frame_type == "P":
            text += f"  motion q{encoding.quality - record.motion_offset}"
        if record.psnr_rgb is not None:
            text += f"  PSNR {record.psnr_rgb:.2f} dB"
        on, off = encoding.motion_estimate(index, True), encoding.motion_estimate(index, False)
        if on is not None and off is not None:
            shown = "on" if context.temporal_prior else "off"
            text += (f"  motion ŷ estimates: {on:.1f} bits with temporal prior, {off:.1f} without "
                     f"(saves {off - on:+.1f} bits; shown: {shown})")
        return text

    def _on_hovered(self, x: float, y: float) -> None:
        self._cursor = (x, y)
        self.pixel.show_pixel(self.current_context(), x, y)

    def _on_range_changed(self, view: ImageView) -> None:
        if view is self.active_view:
            shown = self.frame_count() and view.has_frame()
            self.zoom_label.setText(f"zoom {100 * self.view_link.zoom(view):.0f} %" if shown else "")

    # -- view layout -------------------------------------------------------------------------------
    def toggle_maximised(self, view: ImageView) -> None:
        """Give `view` the whole window (every dock hidden, the view moved to a page of its own, so
        that no layout of its panel keeps room for the others), or put it back."""
        if self._maximised is not None:
            state, shown, layout, place, page = self._maximised
            self._maximised = None
            if isinstance(layout, QGridLayout):
                layout.addWidget(shown, *place)
            else:
                layout.insertWidget(*place)
            self.central.setCurrentIndex(page)
            self.central.show()
            self.restoreState(state)
            return
        layout = view.parentWidget().layout()
        index = layout.indexOf(view)
        place = (layout.getItemPosition(index) if isinstance(layout, QGridLayout)
                 else (index, view, layout.stretch(index)))
        self._maximised = (self.saveState(), view, layout, place, self.central.currentIndex())
        self.active_view = view
        for dock in self._docks.values():
            dock.hide()
        self._maximised_layout.addWidget(view)
        view.show()
        self.central.setCurrentWidget(self._maximised_page)
        self.central.show()

    def is_maximised(self) -> bool:
        return self._maximised is not None

    # -- compare mode ------------------------------------------------------------------------------
    def comparing(self) -> bool:
        return self.compare_action.isChecked()

    def _page(self) -> int:
        """The centre of the window for the open clip: frames, compare mode, or nvc beside x264."""
        if self.comparing():
            return COMPARE_PAGE
        return CLASSICAL_PAGE if self.classical_action.isChecked() else FRAMES_PAGE

    # -- nvc beside a classical coder --------------------------------------------------------------
    def _on_classical_toggled(self, on: bool) -> None:
        """The side by side takes the centre; entering it codes the chosen classical clip if it was
        not coded yet (in the background, after the clip itself)."""
        if on:
            self.compare_action.setChecked(False)
        if self._source is not None:
            self.central.setCurrentIndex(self._page())
        a = self.controller.a
        if on and a is not None and a.complete and self.classical.key() not in a.classical:
            self.code_classical()
        self._refresh()

    def classical_clip(self):
        """The classical coding shown beside nvc (None: not coded, or the mode is off)."""
        a = self.controller.a
        if a is None or not self.classical_action.isChecked():
            return None
        return a.classical.get(self.classical.key())

    def code_classical(self) -> None:
        """Code the clip's frames with the classical coder chosen (nvc_core.evaluation.classical, on
        the worker thread): at a CRF, or at the size of nvc's bitstream of the clip."""
        a = self.controller.a
        if a is None or not a.complete:
            self.report_error("x264/x265 code the frames nvc coded: wait until the clip is coded")
            return
        source = a.request.reference if a.request.is_bitstream else a.request.source
        if source is None:
            self.report_error("this bitstream was opened without its source video: open it with "
                              "File > Open Bitstream with Source Video to code it with x264/x265")
            return
        crf = self.classical.crf_value()
        target = None if crf is not None else 8 * a.bitstream_for(a.coded_prior()).stat().st_size
        self.controller.code_classical(ClassicalRequest(source, a.request.size, len(a.records), a.gop,
                                                        self.classical.coder.currentText(), crf, target,
                                                        a.matrix))

    def _on_compare_toggled(self, on: bool) -> None:
        """Compare mode takes the centre of the window; it starts with the temporal prior switched
        (no re-coding needed). Leaving it stops coding B."""
        if on:
            self.classical_action.setChecked(False)
        if self._source is not None:
            self.central.setCurrentIndex(self._page())
        if self.controller.a is None:
            return
        if on:
            if not self.compare.b_set:     # B starts as A with the temporal prior switched; then the user's
                self.compare.set_b(self.controller.a.request.quality, not self.controls.temporal_prior.isChecked())
            self._on_b_changed()
        else:
            self.controller.set_b(None)
            self._refresh()

    def _on_b_changed(self) -> None:
        if self.controller.a is None:
            return
        self.controller.set_b(self._b_request(self.controller.a.request))
        self._refresh()

    # -- exports -----------------------------------------------------------------------------------
    def _save_path(self, title: str, name: str, pattern: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, title, name, pattern)
        return Path(path) if path else None

    def _stem(self) -> str:
        a = self.controller.a
        return f"{a.request.source.stem}_q{a.quality}_gop{a.gop}"

    def _exportable(self, need_bitstream: bool = False) -> Encoding | None:
        """The clip on screen if it can be exported (else says why not): a complete clip, or the
        frames of a cancelled one (not its bitstream, which was never written)."""
        a = self.controller.a
        if a is None or not a.records:
            why = "nothing to export: open a clip first"
        elif a.status is Status.CODING:
            why = "the clip is still being coded: wait, or press Esc to cancel and export the frames coded so far"
        elif a.status is Status.CANCELLED and need_bitstream:
            why = (f"coding was cancelled after {len(a.records)} frames, so no bitstream was written: "
                   "code the clip again (Ctrl+R) to export it")
        elif a.status is Status.FAILED:
            why = "the clip failed to code: nothing to export"
        else:
            return a
        self.report_error(why)
        return None

    def export_bitstream(self, destination: Path) -> None:
        """Copy the .nvc that nvc_core wrote for the clip under the current temporal-prior setting;
        if the clip was coded with the other setting, code that bitstream first (in the background)."""
        encoding = self._exportable(need_bitstream=True)
        if encoding is None:
            return
        prior = self.controls.temporal_prior.isChecked()
        source = encoding.bitstream_for(prior)
        if source is None:
            self.controller.code_bitstream(encoding, prior, lambda: self.export_bitstream(destination))
            return
        self._guarded(lambda: export.copy_bitstream(source, destination), f"bitstream written to {destination}")

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
        if self._exportable(need_bitstream=True) is not None:
            path = self._save_path("Export bitstream", f"{self._stem()}{BITSTREAM_SUFFIX}", "NVC bitstream (*.nvc)")
            if path:
                self.export_bitstream(path)

    def _note(self, encoding: Encoding) -> str:
        return " (coding was cancelled: the frames coded)" if encoding.status is Status.CANCELLED else ""

    def export_statistics(self, destination: Path) -> bool:
        """Write the per-frame statistics as CSV, or JSON for a .json destination."""
        encoding = self._exportable()
        if encoding is None:
            return False
        rows = export.frame_statistics(encoding)
        if destination.suffix.lower() == ".json":
            write = lambda: export.write_json(encoding, rows, destination)
        else:
            write = lambda: export.write_csv(rows, destination)
        return self._guarded(write, f"statistics of {len(rows)} frames written to {destination}{self._note(encoding)}")

    def _export_statistics(self, kind: str) -> None:
        if self._exportable() is not None:
            path = self._save_path("Export statistics", f"{self._stem()}.{kind}", f"*.{kind}")
            if path:
                self.export_statistics(path)

    def export_video(self, destination: Path) -> bool:
        """Write the reconstructions as .y4m."""
        encoding = self._exportable()
        return encoding is not None and self._guarded(
            lambda: export.write_video(encoding, destination),
            f"{len(encoding.records)} decoded frames written to {destination}{self._note(encoding)}")

    def _export_video(self) -> None:
        if self._exportable() is not None:
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
        return self._guarded(lambda: export.save_widget_png(self, destination), f"window saved to {destination}")

    def _save_window(self) -> None:
        path = self._save_path("Save window", f"nvc_analyzer_{self._index}.png", "PNG image (*.png)")
        if path:
            self.save_window(path)

    def _set_active_view(self, view: ImageView) -> None:
        self.active_view = view
        self._on_range_changed(view)
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

    def _open_with_source_dialog(self) -> None:
        bitstream, _ = QFileDialog.getOpenFileName(self, "Open bitstream", "", "NVC bitstreams (*.nvc)")
        if not bitstream:
            return
        source, _ = QFileDialog.getOpenFileName(self, "Its source video (for PSNR)", "", SOURCE_FILTER)
        if source:
            self.open_path(Path(bitstream), reference=Path(source))

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
        self._store.setValue("window/state", self._maximised[0] if self._maximised else self.saveState())

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
        """Quit at once: the worker is cancelled, not waited for beyond a moment."""
        self.save_settings()
        self._source = None            # a pending re-code (settling controls) finds nothing to code
        self.timeline.play.setChecked(False)
        self.controller.close()
        self.coder.shutdown()
        super().closeEvent(event)
