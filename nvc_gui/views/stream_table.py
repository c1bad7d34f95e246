"""The sub-streams of the current frame: nvc_core's estimated bits of every latent, their sum, and
the frame's bits in the file (the difference is framing and range-coder overhead); in compare mode
the same for B and B − A."""

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from nvc_gui.views.base import FrameContext, coder_rank

COLUMNS = ("sub-stream", "bits")
COMPARE_COLUMNS = ("sub-stream", "A bits", "B bits", "B − A")


class StreamTable(QTableWidget):
    """One row per sub-stream of the frame on screen, then the totals (A, B and B − A when comparing)."""

    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def reset(self) -> None:
        self.setRowCount(0)

    def show_frame(self, context: FrameContext, b: FrameContext | None = None) -> None:
        sides = [_rows(context)]
        if b is not None and b.index < len(b.encoding.records):
            sides.append(_rows(b))
        names = list(dict.fromkeys(name for side in sides for name in side))
        columns = COLUMNS if len(sides) == 1 else COMPARE_COLUMNS
        self.setColumnCount(len(columns))
        self.setHorizontalHeaderLabels(columns)
        self.setRowCount(len(names))
        for row, name in enumerate(names):
            values = [side.get(name) for side in sides]
            cells = [name] + ["–" if v is None else f"{v:.1f}" for v in values]
            if len(sides) == 2:
                cells.append("–" if None in values else f"{values[1] - values[0]:+.1f}")
            for column, text in enumerate(cells):
                self.setItem(row, column, QTableWidgetItem(text))

    def rows(self) -> dict[str, str]:
        return {self.item(r, 0).text(): self.item(r, 1).text() for r in range(self.rowCount())}

    def row_cells(self, name: str) -> list[str]:
        """Every cell of the row named `name`."""
        row = next(r for r in range(self.rowCount()) if self.item(r, 0).text() == name)
        return [self.item(row, c).text() for c in range(self.columnCount())]


def _rows(context: FrameContext) -> dict[str, float]:
    """Sub-stream name -> bits of one frame: estimates, motion re-costing both ways, file totals."""
    record = context.record
    streams = sorted(record.bits_by_stream.items(), key=lambda item: (coder_rank(item[0]), item[0]))
    estimated = sum(record.bits_by_stream.values())
    rows = {f"{key} (estimate)": bits for key, bits in streams}
    for prior in (True, False):
        bits = context.encoding.motion_estimate(context.index, prior)
        if bits is not None:
            rows[f"motion.y, temporal prior {'on' if prior else 'off'} (estimate)"] = bits
    rows.update({"Σ estimates": estimated, "frame in the file": float(record.bits),
                 "file − Σ estimates": record.bits - estimated})
    return rows
