"""The pixel read-out: at the position under the cursor (any view), R'G'B' and Y'CbCr (the stream's
matrix, limited range, 8-bit code values, `nvc_core.color`) of the original, the reconstruction, the MS-MCN
prediction and the error original − reconstruction."""

import numpy as np
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from nvc_core.color import rgb_to_yuv444
from nvc_gui.views.base import FrameContext

ROWS = ("original", "reconstruction", "prediction", "error (orig − rec)")
COLUMNS = ("R", "G", "B", "Y'", "Cb", "Cr")


def pixel_values(context: FrameContext, x: int, y: int) -> dict[str, np.ndarray | None]:
    """Row name -> the 6 values (R, G, B, Y', Cb, Cr) at pixel (x, y); None where the frame has no
    such image (no original for a decoded bitstream, no prediction in an I-frame)."""
    from nvc_core.mc_gain import to_8bit       # the codec's rounding of float images
    record = context.record
    prediction = None if record.prediction is None else to_8bit(record.prediction[y:y + 1, x:x + 1])
    images = {"original": None if record.original is None else record.original[y:y + 1, x:x + 1],
              "reconstruction": record.reconstruction[y:y + 1, x:x + 1], "prediction": prediction}
    matrix = context.encoding.matrix
    values = {name: None if image is None else _rgb_yuv(image, matrix) for name, image in images.items()}
    original, reconstruction = values["original"], values["reconstruction"]
    values[ROWS[3]] = None if original is None else original - reconstruction
    return values


def _rgb_yuv(pixel: np.ndarray, matrix: str) -> np.ndarray:
    """R, G, B, Y', Cb, Cr of a (1, 1, 3) uint8 pixel, as int."""
    yuv = [int(plane[0, 0]) for plane in rgb_to_yuv444(np.ascontiguousarray(pixel), matrix)]
    return np.array([*map(int, pixel[0, 0]), *yuv])


class PixelView(QWidget):
    """A table of the values at the pixel under the cursor."""

    def __init__(self):
        super().__init__()
        self.position = QLabel("move the mouse over a view")
        self.table = QTableWidget(len(ROWS), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setVerticalHeaderLabels(["orig", "rec", "pred", "orig − rec"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("R'G'B' and Y'CbCr (the stream's matrix, limited range) 8-bit code values; the "
                              "prediction rounded to 8 bits as the codec rounds")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.position)
        layout.addWidget(self.table)

    def reset(self) -> None:
        self.position.setText("move the mouse over a view")
        self.table.clearContents()

    def show_pixel(self, context: FrameContext | None, x: float, y: float) -> None:
        """The values at frame coordinates (x, y) of `context`'s frame (nothing outside it)."""
        if context is None:
            return
        height, width = context.frame_size
        column, row = int(np.floor(x)), int(np.floor(y))
        if not (0 <= column < width and 0 <= row < height):
            return
        self.position.setText(f"frame {context.index}, pixel x={column} y={row}")
        for r, values in enumerate(pixel_values(context, column, row).values()):
            for c in range(len(COLUMNS)):
                text = "–" if values is None else str(values[c])
                self.table.setItem(r, c, QTableWidgetItem(text))

    def cell_text(self, row: str, column: str) -> str:
        return self.table.item(ROWS.index(row), COLUMNS.index(column)).text()
