"""Per-frame plots: bits stacked by sub-stream, PSNR, MS-SSIM, the estimated motion bits with the
temporal prior on and off, and the PSNR of the three predictions of each P-frame (MS-MCN, warping
with f^0, zero motion; `nvc_core.mc_gain`). The current frame is marked; clicking a plot selects a
frame. Bits are plain bits (no SI prefixes). In compare mode B's series (bits in the file, PSNR,
MS-SSIM, motion ŷ bits with B's temporal-prior setting, MS-MCN prediction PSNR) are drawn dashed next
to A's, and a sixth plot shows B − A (PSNR in dB on the left axis,
bits on the right); a classical coder beside nvc (x264/x265) adds its per-frame bits and PSNR.

The plot items are made once and only get new data (cheap enough to redraw after every coded frame)."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from nvc_gui.encoding import STREAM_GROUPS, Encoding

GROUP_COLOURS = {"intra": "#1f77b4", "motion": "#ff7f0e", "residual": "#2ca02c", "hyper": "#9467bd",
                 "other": "#7f7f7f"}
PRIOR_COLOURS = {"temporal prior on": "#ff7f0e", "off": "#1f77b4"}
MC_COLOURS = {"MS-MCN": "#d62728", "warp f^0": "#ff7f0e", "zero motion": "#7f7f7f"}
MC_FIELDS = {"MS-MCN": "psnr_prediction", "warp f^0": "psnr_warp", "zero motion": "psnr_zero"}
PSNR_COLOURS = {"RGB": "#d62728", "Y": "#17becf"}
SSIM_COLOUR = "#2ca02c"
B_COLOUR = "#e377c2"          # B's series (dashed)
CLASSICAL_COLOUR = "#bcbd22"  # the classical coder's series
DELTA_COLOURS = {"ΔPSNR dB (left)": "#d62728", "Δbits (right)": "#1f77b4"}
BAR_WIDTH = 0.8


class PlotsView(QWidget):
    """Five x-linked plots over the frames of one coded clip."""

    frame_clicked = Signal(int)

    def __init__(self):
        super().__init__()
        self._graphics = pg.GraphicsLayoutWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._graphics)
        extra = {"B (file)": B_COLOUR, "classical": CLASSICAL_COLOUR}
        self.bits = self._add_plot(0, 0, "Bits per frame (estimates; other = file − estimates)", "bits",
                                   {**GROUP_COLOURS, **extra})
        self.prior = self._add_plot(0, 1, "Motion ŷ bits, estimates", "bits",
                                    {**PRIOR_COLOURS, "B (its setting)": B_COLOUR})
        self.psnr = self._add_plot(1, 0, "PSNR", "dB", {**PSNR_COLOURS, "B": B_COLOUR,
                                                         "classical": CLASSICAL_COLOUR})
        self.ssim = self._add_plot(1, 1, "MS-SSIM", "", {"MS-SSIM": SSIM_COLOUR, "B": B_COLOUR})
        self.mc = self._add_plot(0, 2, "Prediction PSNR", "dB", {**MC_COLOURS, "B MS-MCN": B_COLOUR})
        self.delta = self._add_plot(1, 2, "B − A (compare mode)", "dB", DELTA_COLOURS)
        self._delta_bits = pg.ViewBox()          # Δbits on the right axis
        self.delta.showAxis("right")
        self.delta.getAxis("right").setLabel("bits")
        self.delta.getAxis("right").enableAutoSIPrefix(False)
        self.delta.scene().addItem(self._delta_bits)
        self.delta.getAxis("right").linkToView(self._delta_bits)
        self._delta_bits.setXLink(self.delta)
        self.delta.vb.sigResized.connect(lambda _vb: self._delta_bits.setGeometry(self.delta.vb.sceneBoundingRect()))
        self._plots = (self.bits, self.prior, self.psnr, self.ssim, self.mc, self.delta)
        self._markers = []
        for plot in self._plots:
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("r", width=1))
            plot.addItem(marker)
            self._markers.append(marker)
            if plot is not self.bits:
                plot.setXLink(self.bits)
        self._bars = {group: pg.BarGraphItem(x=[], height=[], width=BAR_WIDTH, brush=GROUP_COLOURS[group],
                                             pen=None)
                      for group in STREAM_GROUPS}
        for bars in self._bars.values():
            self.bits.addItem(bars)
        self._curves = {
            "psnr_rgb": self._curve(self.psnr, PSNR_COLOURS["RGB"]),
            "psnr_y": self._curve(self.psnr, PSNR_COLOURS["Y"]),
            "ms_ssim": self._curve(self.ssim, SSIM_COLOUR),
            True: self._curve(self.prior, PRIOR_COLOURS["temporal prior on"]),
            False: self._curve(self.prior, PRIOR_COLOURS["off"]),
        }
        self._curves.update({name: self._curve(self.mc, colour) for name, colour in MC_COLOURS.items()})
        self._curves.update({
            "B bits": self._curve(self.bits, B_COLOUR, dashed=True),
            "B psnr_rgb": self._curve(self.psnr, B_COLOUR, dashed=True),
            "B ms_ssim": self._curve(self.ssim, B_COLOUR, dashed=True),
            "B motion": self._curve(self.prior, B_COLOUR, dashed=True),
            "B MS-MCN": self._curve(self.mc, B_COLOUR, dashed=True),
            "classical bits": self._curve(self.bits, CLASSICAL_COLOUR),
            "classical psnr_rgb": self._curve(self.psnr, CLASSICAL_COLOUR),
            "Δpsnr": self._curve(self.delta, DELTA_COLOURS["ΔPSNR dB (left)"]),
        })
        self._curves["Δbits"] = self._curve(None, DELTA_COLOURS["Δbits (right)"])
        self._delta_bits.addItem(self._curves["Δbits"])
        self._frames = 0
        self._graphics.scene().sigMouseClicked.connect(self._on_click)

    def _add_plot(self, row: int, col: int, title: str, unit: str, legend: dict[str, str],
                  rowspan: int = 1) -> pg.PlotItem:
        """A plot whose title is its legend (coloured names: nothing is drawn over the data)."""
        keys = " ".join(f"<span style='color:{colour}'>■ {name}</span>" for name, colour in legend.items())
        plot = self._graphics.addPlot(row=row, col=col, rowspan=rowspan, title=f"{title}<br>{keys}")
        plot.titleLabel.setAttr("size", "9pt")
        plot.setLabel("left", unit)
        plot.getAxis("left").enableAutoSIPrefix(False)     # plain bits: never "mbits" or "x0.001"
        plot.setMenuEnabled(False)
        plot.showGrid(x=True, y=True, alpha=0.2)
        return plot

    @staticmethod
    def _curve(plot: pg.PlotItem | None, colour: str, dashed: bool = False) -> pg.PlotDataItem:
        pen = pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
        curve = pg.PlotDataItem([], [], pen=pen, symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None)
        if plot is not None:
            plot.addItem(curve)
        return curve

    def show_encoding(self, encoding: Encoding | None, b: Encoding | None = None,
                      classical=None) -> None:
        """Show the records of `encoding` (None: nothing), B's series and B − A when `b` is given,
        and the per-frame numbers of a classical coder (`nvc_core.evaluation.classical`)."""
        records = [] if encoding is None else encoding.records
        self._frames = len(records)
        frames = np.arange(len(records))
        per_group = [encoding.stream_bits(i) for i in range(len(records))]
        bottom = np.zeros(len(records))
        for group, bars in self._bars.items():
            heights = np.array([bits[group] for bits in per_group], dtype=float)
            bars.setOpts(x=frames, y0=bottom, height=heights, width=BAR_WIDTH)
            bottom = bottom + heights
        for field in ("psnr_rgb", "psnr_y", "ms_ssim"):
            _set_known(self._curves[field], frames, [getattr(r, field) for r in records])
        for prior in (True, False):
            _set_known(self._curves[prior], frames, [encoding.motion_estimate(i, prior) for i in frames])
        gains = [] if encoding is None else encoding.gains[:len(records)]
        for name, field in MC_FIELDS.items():
            _set_known(self._curves[name], frames[:len(gains)],
                       [None if g is None else getattr(g, field) for g in gains])
        self._show_b(records, b)
        frames_c = [] if classical is None else classical.frames
        _set_known(self._curves["classical bits"], np.arange(len(frames_c)), [f.bits for f in frames_c])
        _set_known(self._curves["classical psnr_rgb"], np.arange(len(frames_c)), [f.psnr_rgb for f in frames_c])
        self.bits.setXRange(-0.5, max(len(records), 1) - 0.5, padding=0.02)
        for plot in self._plots:
            plot.enableAutoRange(axis="y")
        if b is None:                    # no B: no B − A range left over from compare mode
            self.delta.setYRange(-1, 1, padding=0)
            self._delta_bits.setYRange(-1, 1, padding=0)
        else:
            self._delta_bits.enableAutoRange(axis="y")

    def _show_b(self, records: list, b: Encoding | None) -> None:
        """B's series and B − A over the frames both have."""
        b_records = [] if b is None else b.records
        b_frames = np.arange(len(b_records))
        _set_known(self._curves["B motion"], b_frames,
                   [b.motion_estimate(i, b.coded_prior()) for i in b_frames] if b is not None else [])
        b_gains = [] if b is None else b.gains[:len(b_records)]
        _set_known(self._curves["B MS-MCN"], b_frames[:len(b_gains)],
                   [None if g is None else g.psnr_prediction for g in b_gains])
        both = np.arange(min(len(records), len(b_records)))
        _set_known(self._curves["B bits"], both, [b_records[i].bits for i in both])
        for field in ("psnr_rgb", "ms_ssim"):
            _set_known(self._curves[f"B {field}"], both, [getattr(b_records[i], field) for i in both])
        _set_known(self._curves["Δbits"], both, [b_records[i].bits - records[i].bits for i in both])
        _set_known(self._curves["Δpsnr"], both, [_difference(b_records[i].psnr_rgb, records[i].psnr_rgb)
                                                  for i in both])

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(frames, values) of a curve ("B bits", "Δpsnr", "classical bits", ...)."""
        x, y = self._curves[name].getData()
        return (np.array([]), np.array([])) if x is None else (x, y)

    def set_current(self, index: int) -> None:
        for marker in self._markers:
            marker.setValue(index)

    def _on_click(self, event) -> None:
        position: QPointF = event.scenePos()
        for plot in self._plots:
            if plot.sceneBoundingRect().contains(position) and self._frames:
                x = plot.vb.mapSceneToView(position).x()
                self.frame_clicked.emit(int(np.clip(round(x), 0, self._frames - 1)))
                return


def _difference(b: float | None, a: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _set_known(curve: pg.PlotDataItem, frames: np.ndarray, values: list) -> None:
    """Plot the known, finite values only (None: unknown, e.g. I-frames, or no original to compare
    with; a lossless prediction's PSNR is infinite)."""
    known = [i for i, v in enumerate(values) if v is not None and np.isfinite(v)]
    curve.setData(frames[known], np.array([values[i] for i in known], dtype=float))
