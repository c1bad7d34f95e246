"""Frame navigation: the frame list (type, bits, quality per frame) and the timeline slider with
play/pause."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSlider, QTableWidget, QTableWidgetItem, QWidget)

from nvc_gui.encoding import Encoding

COLUMNS = ("frame", "type", "bits", "PSNR", "MS-SSIM")


class FrameTable(QTableWidget):
    """One row per coded frame; selecting a row selects the frame."""

    frame_selected = Signal(int)

    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)      # arrow keys belong to the window's shortcuts
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.currentCellChanged.connect(self._on_current_cell)

    def _on_current_cell(self, row: int, _column: int, _previous_row: int, _previous_column: int) -> None:
        if row >= 0:
            self.frame_selected.emit(row)

    def show_encoding(self, encoding: Encoding, temporal_prior: bool) -> None:
        """Fill the rows from the records (bits under `temporal_prior`, re-costed ones marked *)."""
        self.blockSignals(True)
        self.setRowCount(len(encoding.records))
        for i, record in enumerate(encoding.records):
            toggled = record.frame_type == "P" and record.temporal_prior != temporal_prior
            cells = (str(i), record.frame_type,
                     f"{encoding.frame_bits(i, temporal_prior):.0f}{'*' if toggled else ''}",
                     _number(record.psnr_rgb, "{:.2f}"), _number(record.ms_ssim, "{:.4f}"))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if toggled and column == 2:
                    item.setToolTip("motion bits re-costed with recost_motion (estimate)")
                self.setItem(i, column, item)
        self.blockSignals(False)

    def set_current(self, index: int) -> None:
        self.blockSignals(True)
        self.selectRow(index)
        self.scrollToItem(self.item(index, 0))
        self.blockSignals(False)

    def cell_text(self, row: int, column: str) -> str:
        """The text shown in `column` (one of COLUMNS) of frame `row`."""
        return self.item(row, COLUMNS.index(column)).text()


class Timeline(QWidget):
    """A slider over the coded frames, a play button and the current frame's description."""

    frame_selected = Signal(int)
    play_toggled = Signal(bool)

    def __init__(self):
        super().__init__()
        self.play = QPushButton("▶")
        self.play.setCheckable(True)
        self.play.setToolTip("Play / pause (Space)")
        self.play.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setMaximum(0)
        self.label = QLabel("no video")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.play)
        layout.addWidget(self.slider, stretch=1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self.frame_selected)
        self.play.toggled.connect(self._on_play)

    def set_frames(self, count: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(count - 1, 0))
        self.slider.blockSignals(False)

    def set_current(self, index: int, description: str) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.label.setText(description)

    def _on_play(self, playing: bool) -> None:
        self.play.setText("⏸" if playing else "▶")
        self.play_toggled.emit(playing)


def _number(value: float | None, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)
