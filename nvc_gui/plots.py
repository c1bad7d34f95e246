"""Per-frame plots: bits stacked by sub-stream, PSNR, MS-SSIM, and motion bits with the temporal
prior on and off. The current frame is marked; clicking a plot selects a frame."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from nvc_gui.encoding import STREAM_GROUPS, Encoding

GROUP_COLOURS = {"intra": "#1f77b4", "motion": "#ff7f0e", "residual": "#2ca02c", "hyper": "#9467bd",
                 "framing": "#7f7f7f"}


class PlotsView(QWidget):
    """Four x-linked plots over the frames of one coded clip, in a 2x2 grid."""

    frame_clicked = Signal(int)

    def __init__(self):
        super().__init__()
        self._graphics = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._graphics)
        self.bits = self._add_plot(0, 0, "Bits per frame by sub-stream", "bits")
        self.prior = self._add_plot(0, 1, "Motion bits: temporal prior on vs off (recost_motion)", "bits")
        self.psnr = self._add_plot(1, 0, "PSNR", "dB")
        self.ssim = self._add_plot(1, 1, "MS-SSIM", "")
        self._markers = []
        for plot in (self.bits, self.psnr, self.ssim, self.prior):
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("r", width=1))
            plot.addItem(marker)
            self._markers.append(marker)
            plot.addLegend(offset=(-5, 5), labelTextSize="7pt")
            if plot is not self.bits:
                plot.setXLink(self.bits)
        self._frames = 0
        self._graphics.scene().sigMouseClicked.connect(self._on_click)

    def _add_plot(self, row: int, col: int, title: str, unit: str) -> pg.PlotItem:
        plot = self._graphics.addPlot(row=row, col=col, title=title)
        plot.setLabel("left", units=unit)
        plot.setMenuEnabled(False)
        plot.showGrid(x=True, y=True, alpha=0.2)
        return plot

    def show_encoding(self, encoding: Encoding, temporal_prior: bool) -> None:
        """Redraw all plots from the records of `encoding` (bits under `temporal_prior`)."""
        records = encoding.records
        self._frames = len(records)
        frames = np.arange(len(records))
        for plot in (self.bits, self.psnr, self.ssim, self.prior):
            _clear_data(plot)
            plot.enableAutoRange(axis="y")
        self.bits.setXRange(-0.5, max(len(records), 1) - 0.5, padding=0.02)
        bottom = np.zeros(len(records))
        per_group = [encoding.stream_bits(i, temporal_prior) for i in range(len(records))]
        for group in STREAM_GROUPS:
            heights = np.array([bits[group] for bits in per_group], dtype=float)
            if not heights.any():
                continue
            colour = GROUP_COLOURS[group]
            self.bits.addItem(pg.BarGraphItem(x=frames, y0=bottom, height=heights, width=0.8,
                                              brush=colour, pen=None, name=group))
            bottom = bottom + heights
        self._line(self.psnr, frames, [r.psnr_rgb for r in records], "RGB", "#d62728")
        self._line(self.psnr, frames, [r.psnr_y for r in records], "Y", "#17becf")
        self._line(self.ssim, frames, [r.ms_ssim for r in records], "MS-SSIM", "#2ca02c")
        for prior, colour in ((True, "#ff7f0e"), (False, "#1f77b4")):
            bits = [c.bits_y if c is not None else None
                    for c in (encoding.recosted(i, prior) for i in range(len(records)))]
            self._line(self.prior, frames, bits, f"tp {'on' if prior else 'off'}", colour)

    @staticmethod
    def _line(plot: pg.PlotItem, frames: np.ndarray, values: list, name: str, colour: str) -> None:
        """Plot the known values (None: unknown, e.g. I-frames or no original) as line and dots."""
        known = [i for i, v in enumerate(values) if v is not None]
        if known:
            plot.plot(frames[known], [values[i] for i in known], pen=pg.mkPen(colour, width=1.5),
                      symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None, name=name)

    def set_current(self, index: int) -> None:
        for marker in self._markers:
            marker.setValue(index)

    def _on_click(self, event) -> None:
        position: QPointF = event.scenePos()
        for plot in (self.bits, self.psnr, self.ssim, self.prior):
            if plot.sceneBoundingRect().contains(position) and self._frames:
                x = plot.vb.mapSceneToView(position).x()
                self.frame_clicked.emit(int(np.clip(round(x), 0, self._frames - 1)))
                return


def _clear_data(plot: pg.PlotItem) -> None:
    """Remove the data items (bars, curves) of `plot`, keep the frame marker."""
    for item in list(plot.items):
        if isinstance(item, (pg.BarGraphItem, pg.PlotDataItem)):
            plot.removeItem(item)
    if plot.legend is not None:
        plot.legend.clear()
