"""The sub-streams of the current frame: nvc_core's estimated bits of every latent, their sum, and
the frame's bits in the file (the difference is framing and range-coder overhead)."""

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from nvc_gui.views.base import FrameContext, coder_rank

COLUMNS = ("sub-stream", "bits")


class StreamTable(QTableWidget):
    """One row per sub-stream of the frame on screen, then the totals."""

    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def clear_rows(self) -> None:
        self.setRowCount(0)

    def show_frame(self, context: FrameContext) -> None:
        record = context.record
        streams = sorted(record.bits_by_stream.items(), key=lambda item: (coder_rank(item[0]), item[0]))
        estimated = sum(record.bits_by_stream.values())
        rows = [(f"{key} (estimate)", f"{bits:.1f}") for key, bits in streams]
        for prior in (True, False):
            bits = context.encoding.motion_estimate(context.index, prior)
            if bits is not None:
                rows.append((f"motion.y, temporal prior {'on' if prior else 'off'} (estimate)", f"{bits:.1f}"))
        rows += [("Σ estimates", f"{estimated:.1f}"), ("frame in the file", str(record.bits)),
                 ("file − Σ estimates", f"{record.bits - estimated:.1f}")]
        self.setRowCount(len(rows))
        for row, cells in enumerate(rows):
            for column, text in enumerate(cells):
                self.setItem(row, column, QTableWidgetItem(text))

    def rows(self) -> dict[str, str]:
        return {self.item(r, 0).text(): self.item(r, 1).text() for r in range(self.rowCount())}
