"""Frame navigation: the frame list (type, bits, quality, motion estimates, motion-compensation gain
per frame) and the timeline with play/pause, loop and speed."""

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QPushButton,
                               QSlider, QStyle, QTableWidget, QTableWidgetItem, QWidget)

from nvc_gui.encoding import Encoding
from nvc_gui.views.image_view import ElidedLabel

# column -> header tooltip
COLUMNS = {
    "frame": "frame index",
    "type": "I or P",
    "bits": "bits of the frame in the file",
    "PSNR": "RGB PSNR of the reconstruction (dB)",
    "MS-SSIM": "MS-SSIM of the reconstruction",
    "ŷm on": "estimated bits of the motion latent ŷ with the temporal prior (recost_motion)",
    "ŷm off": "estimated bits of the motion latent ŷ without the temporal prior (recost_motion)",
    "saved": "estimated motion bits the temporal prior saves (off − on)",
    "MCN dB": "PSNR gain of the MS-MCN prediction over zero motion (previous reconstruction), dB",
    "warp dB": "PSNR gain of plain warping with f^0 over zero motion, dB",
}
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


class FrameTable(QTableWidget):
    """One row per coded frame; selecting a row selects the frame."""

    frame_selected = Signal(int)

    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tooltip in enumerate(COLUMNS.values()):
            self.horizontalHeaderItem(column).setToolTip(tooltip)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)      # arrow keys belong to the window's shortcuts
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.currentCellChanged.connect(self._on_current_cell)

    def _on_current_cell(self, row: int, _column: int, _previous_row: int, _previous_column: int) -> None:
        if row >= 0:
            self.frame_selected.emit(row)

    def show_encoding(self, encoding: Encoding | None) -> None:
        """Fill the rows from the records (None: no rows)."""
        self.blockSignals(True)
        records = [] if encoding is None else encoding.records
        self.setRowCount(len(records))
        for i, record in enumerate(records):
            gain = encoding.gains[i] if i < len(encoding.gains) else None
            cells = (str(i), record.frame_type, str(encoding.frame_bits(i)),
                     _number(record.psnr_rgb, "{:.2f}"), _number(record.ms_ssim, "{:.4f}"),
                     _number(encoding.motion_estimate(i, True), "{:.3g}"),
                     _number(encoding.motion_estimate(i, False), "{:.3g}"),
                     _number(encoding.bits_saved(i), "{:+.3f}"),
                     _number(None if gain is None else gain.gain_prediction, "{:+.2f}"),
                     _number(None if gain is None else gain.gain_warp, "{:+.2f}"))
            for column, text in enumerate(cells):
                self.setItem(i, column, QTableWidgetItem(text))
        self.blockSignals(False)

    def set_current(self, index: int) -> None:
        self.blockSignals(True)
        self.selectRow(index)
        self.scrollToItem(self.item(index, 0))
        self.blockSignals(False)

    def cell_text(self, row: int, column: str) -> str:
        """The text shown in `column` (one of COLUMNS) of frame `row`."""
        return self.item(row, list(COLUMNS).index(column)).text()


class Timeline(QWidget):
    """A slider over the coded frames, play/pause, loop, speed, and the current frame's description.
    Playing steps through the coded frames at the clip's frame rate times the speed."""

    frame_selected = Signal(int)
    step_requested = Signal()          # the player's tick: show the next frame

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
        self.label = ElidedLabel("no video")
        self.label.setMinimumWidth(360)
        self._fps = 25.0
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.step_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for widget in (self.play, self.loop, self.speed):
            layout.addWidget(widget)
        layout.addWidget(self.slider, stretch=1)
        layout.addWidget(self.label, stretch=1)
        self.slider.valueChanged.connect(self.frame_selected)
        self.play.toggled.connect(self._on_play)
        self.speed.currentIndexChanged.connect(lambda _i: self._on_play(self.play.isChecked()))
        self._on_play(False)

    def set_frames(self, count: int, fps: float) -> None:
        self._fps = fps
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(count - 1, 0))
        self.slider.blockSignals(False)

    def set_current(self, index: int, description: str) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.label.set_full_text(description)

    def interval_ms(self) -> int:
        """Milliseconds between two frames when playing."""
        return max(1, round(1000 / (self._fps * SPEEDS[self.speed.currentIndex()])))

    def _on_play(self, playing: bool) -> None:
        pixmap = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play.setIcon(self.style().standardIcon(pixmap))
        if playing:
            self._timer.start(self.interval_ms())
        else:
            self._timer.stop()


def _number(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)
