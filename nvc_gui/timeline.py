"""Frame navigation: the frame list (type, bits, quality, motion estimates, motion-compensation gain
per frame) and the timeline with play/pause, loop and speed."""

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QPushButton,
                               QSlider, QSpinBox, QStyle, QTableWidget, QTableWidgetItem, QWidget)

from nvc_gui.encoding import Encoding
from nvc_gui.views.image_view import ElidedLabel

# column -> header tooltip; the headers of "bits", "ŷm on", "ŷm off" name the temporal-prior setting
# (of the file, of the estimate shown)
COLUMNS = {
    "frame": "frame index",
    "type": "I or P",
    "bits": "bits of the frame in the file (coded with the temporal-prior setting in the header)",
    "PSNR": "RGB PSNR of the reconstruction (dB)",
    "MS-SSIM": "MS-SSIM of the reconstruction",
    "ŷm on": "estimated bits of the motion latent ŷ with the temporal prior (recost_motion)",
    "ŷm off": "estimated bits of the motion latent ŷ without the temporal prior (recost_motion)",
    "saved": "estimated motion bits the temporal prior saves (off − on), bits",
    "MCN dB": "PSNR gain of the MS-MCN prediction over zero motion (previous reconstruction), dB",
    "warp dB": "PSNR gain of plain warping with f^0 over zero motion, dB",
}
# compare mode: B's numbers and B − A
B_COLUMNS = {
    "B bits": "bits of B's frame in its file",
    "B PSNR": "RGB PSNR of B's reconstruction (dB)",
    "B MS-SSIM": "MS-SSIM of B's reconstruction",
    "Δbits": "B − A: bits in the files",
    "ΔPSNR": "B − A: RGB PSNR (dB)",
}
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


class FrameTable(QTableWidget):
    """One row per coded frame (with B's numbers and B − A in compare mode); selecting a row
    selects the frame."""

    frame_selected = Signal(int)

    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self._columns: list[str] = []
        self._set_columns(list(COLUMNS), {})
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)      # arrow keys belong to the window's shortcuts
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.currentCellChanged.connect(self._on_current_cell)

    def _set_columns(self, columns: list[str], headers: dict[str, str]) -> None:
        if columns != self._columns:
            self._columns = columns
            self.setColumnCount(len(columns))
        tooltips = {**COLUMNS, **B_COLUMNS}
        self.setHorizontalHeaderLabels([headers.get(c, c) for c in columns])
        for column, name in enumerate(columns):
            self.horizontalHeaderItem(column).setToolTip(tooltips[name])

    def _on_current_cell(self, row: int, _column: int, _previous_row: int, _previous_column: int) -> None:
        if row >= 0:
            self.frame_selected.emit(row)

    def show_encoding(self, encoding: Encoding | None, b: Encoding | None = None,
                      temporal_prior: bool = True) -> None:
        """Fill the rows from the records (None: no rows); with `b`, its numbers and B − A.
        `temporal_prior` is the setting whose estimates are on screen (marked in the headers)."""
        self.blockSignals(True)
        records = [] if encoding is None else encoding.records
        coded = next((r.temporal_prior for r in records if r.frame_type == "P"), None)
        headers = {"bits": "bits in file" + ("" if coded is None else f" (TP {'on' if coded else 'off'})"),
                   "ŷm on": "ŷm est. TP on" + (" ◀" if temporal_prior else ""),
                   "ŷm off": "ŷm est. TP off" + ("" if temporal_prior else " ◀"),
                   "saved": "TP saves (bits)"}
        self._set_columns(list(COLUMNS) + (list(B_COLUMNS) if b is not None else []), headers)
        self.setRowCount(len(records))
        for i, record in enumerate(records):
            gain = encoding.gains[i] if i < len(encoding.gains) else None
            cells = [str(i), record.frame_type, str(encoding.frame_bits(i)),
                     _number(record.psnr_rgb, "{:.2f}"), _number(record.ms_ssim, "{:.4f}"),
                     _number(encoding.motion_estimate(i, True), "{:.1f}"),
                     _number(encoding.motion_estimate(i, False), "{:.1f}"),
                     _number(encoding.bits_saved(i), "{:+.1f}"),
                     _number(None if gain is None else gain.gain_prediction, "{:+.2f}"),
                     _number(None if gain is None else gain.gain_warp, "{:+.2f}")]
            if b is not None:
                cells += _b_cells(record, b.records[i] if i < len(b.records) else None)
            for column, text in enumerate(cells):
                self.setItem(i, column, QTableWidgetItem(text))
        self.blockSignals(False)

    def set_current(self, index: int) -> None:
        self.blockSignals(True)
        self.selectRow(index)
        self.scrollToItem(self.item(index, 0))
        self.blockSignals(False)

    def cell_text(self, row: int, column: str) -> str:
        """The text shown in `column` (one of COLUMNS, B_COLUMNS) of frame `row`."""
        return self.item(row, self._columns.index(column)).text()

    def header_text(self, column: str) -> str:
        return self.horizontalHeaderItem(self._columns.index(column)).text()


def _b_cells(a, b) -> list[str]:
    """B's bits, PSNR, MS-SSIM and B − A of one frame ("…": B not coded that far yet)."""
    if b is None:
        return ["…"] * len(B_COLUMNS)
    delta_psnr = None if a.psnr_rgb is None or b.psnr_rgb is None else b.psnr_rgb - a.psnr_rgb
    return [str(b.bits), _number(b.psnr_rgb, "{:.2f}"), _number(b.ms_ssim, "{:.4f}"),
            f"{b.bits - a.bits:+d}", _number(delta_psnr, "{:+.2f}")]


class Timeline(QWidget):
    """A slider over the coded frames, a go-to-frame box, play/pause, loop, speed, and the current
    frame's description. Playing keeps to the clip's frame rate times the speed: when drawing a frame
    takes longer than a frame period, frames are skipped rather than the clip slowed down."""

    frame_selected = Signal(int)
    step_requested = Signal(int)       # the player's tick: advance this many frames

    def __init__(self):
        super().__init__()
        self.play = QPushButton()
        self.play.setCheckable(True)
        self.play.setToolTip("Play / pause (Space)")
        self.play.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.loop = QCheckBox("loop")
        self.loop.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.speed = QComboBox()
        self.speed.addItems([f"{s:g}×" for s in SPEEDS])
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.speed.setToolTip("Playback speed relative to the clip's frame rate")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setMaximum(0)
        self.goto = QSpinBox()
        self.goto.setPrefix("go to ")
        self.goto.setKeyboardTracking(False)
        self.goto.setToolTip("Go to frame (type the index, Enter)")
        self.label = ElidedLabel("no video")
        self.label.setMinimumWidth(360)
        self._fps = 25.0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self._played = 0                  # frames advanced since play was pressed
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for widget in (self.play, self.loop, self.speed):
            layout.addWidget(widget)
        layout.addWidget(self.slider, stretch=1)
        layout.addWidget(self.goto)
        layout.addWidget(self.label, stretch=1)
        self.slider.valueChanged.connect(self.frame_selected)
        self.goto.valueChanged.connect(self.frame_selected)
        self.play.toggled.connect(self._on_play)
        self.speed.currentIndexChanged.connect(lambda _i: self._on_play(self.play.isChecked()))
        self._on_play(False)

    def set_frames(self, count: int, fps: float) -> None:
        self._fps = fps
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(count - 1, 0))
        self.slider.blockSignals(False)
        self.goto.blockSignals(True)
        self.goto.setMaximum(max(count - 1, 0))
        self.goto.blockSignals(False)

    def set_current(self, index: int, description: str) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.goto.blockSignals(True)
        self.goto.setValue(index)
        self.goto.blockSignals(False)
        self.label.set_full_text(description)

    def interval_ms(self) -> int:
        """Milliseconds between two frames when playing."""
        return max(1, round(1000 / (self._fps * SPEEDS[self.speed.currentIndex()])))

    def _on_play(self, playing: bool) -> None:
        pixmap = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play.setIcon(self.style().standardIcon(pixmap))
        if playing:
            self._clock.start()
            self._played = 0
            self._timer.start(self.interval_ms())
        else:
            self._timer.stop()

    def _tick(self) -> None:
        """Advance by the frames due since play was pressed (none, one, or more when drawing lags)."""
        due = int(self._clock.elapsed() * self._fps * SPEEDS[self.speed.currentIndex()] / 1000) - self._played
        if due > 0:
            self._played += due
            self.step_requested.emit(due)


def _number(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)
