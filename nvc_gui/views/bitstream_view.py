"""The structure of the clip's .nvc file, as `nvc info` prints it and with each part's offset: the
header (`nvc_core.bitstream.StreamHeader`), then one chunk per frame (`FrameChunk`: type, temporal
prior flag, size, reconstruction hash), each GOP's chunks followed by their CRC-32."""

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from nvc_core.bitstream import CRC_BYTES, gop_ends, read_stream
from nvc_core.errors import NVCError

COLUMNS = ("part", "offset", "bytes", "type", "TP", "payload bytes", "recon hash")


def stream_layout(path: Path) -> list[tuple[str, ...]]:
    """One row per part of the file: the header, then every frame chunk and, after each GOP's last
    chunk, the GOP's CRC, with its byte offset (the parts' sizes one after another)."""
    header, chunks = read_stream(path)
    h = header
    offset = len(header.pack())
    ends = set(gop_ends(h.frame_count, h.gop))
    rows = [("header", "0", str(offset), f"{h.width}x{h.height}, {h.frame_count} frames", "",
             f"GOP {h.gop}, quality {h.quality}, {h.fps_num}/{h.fps_den} fps",
             f"{h.matrix} {'full' if h.full_range else 'limited'}, weights {h.weights_id.hex()}")]
    try:
        for i, chunk in enumerate(chunks):
            rows.append((f"frame {i}", str(offset), str(chunk.nbytes), chunk.frame_type,
                         "on" if chunk.temporal_prior else "--", str(len(chunk.payload)), chunk.recon_hash.hex()))
            offset += chunk.nbytes
            if i in ends:
                first = i - i % h.gop
                rows.append((f"CRC frames {first}-{i}", str(offset), str(CRC_BYTES), "", "", "", ""))
                offset += CRC_BYTES
    except NVCError as error:           # a damaged file: its readable parts, then what is wrong
        rows.append(("error", str(offset), "", "", "", "", str(error)))
    return rows


class BitstreamView(QTableWidget):
    """The parts of the .nvc file on screen, one per row; selecting a frame's row selects the frame."""

    frame_selected = Signal(int)

    def __init__(self):
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.path: Path | None = None
        self.cellClicked.connect(self._select_frame)

    def _select_frame(self, row: int, _column: int) -> None:
        part = self.item(row, 0).text()
        if part.startswith("frame "):
            self.frame_selected.emit(int(part.split()[1]))

    def reset(self) -> None:
        self.path = None
        self.setRowCount(0)

    def show_file(self, path: Path | None) -> None:
        """The layout of `path` (read again only when the file changes; None: no file yet)."""
        if path == self.path:
            return
        self.reset()
        if path is None:
            return
        try:
            rows = stream_layout(path)
        except (NVCError, OSError) as error:
            rows = [("error", "", "", "", "", "", str(error))]
        self.path = path
        self.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                self.setItem(r, c, QTableWidgetItem(text))

    def row_cells(self, row: int) -> list[str]:
        return [self.item(row, c).text() for c in range(self.columnCount())]
