"""The page shown before a video is open: open a file, the bundled sample clip, or a recent file."""

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget


class WelcomePage(QWidget):
    """Offers the sample clip and the recent files; drop a file anywhere on the window to open it."""

    open_requested = Signal()          # "Open…" clicked
    path_chosen = Signal(Path)         # the sample clip or a recent file

    def __init__(self, sample: Path | None, recent: list[str]):
        super().__init__()
        title = QLabel("<h2>NVC analyzer</h2>Open a video (.y4m, .yuv, .mp4, .avi, .mkv, PNG folder) "
                       "or an .nvc bitstream, or drop one here.")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        open_button = QPushButton("Open…")
        open_button.clicked.connect(self.open_requested)
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(title)
        layout.addWidget(open_button, alignment=Qt.AlignmentFlag.AlignCenter)
        if sample is not None:
            sample_button = QPushButton(f"Open the sample clip {sample.name}")
            sample_button.clicked.connect(lambda: self.path_chosen.emit(sample))
            layout.addWidget(sample_button, alignment=Qt.AlignmentFlag.AlignCenter)
        self.recent = QListWidget()
        self.recent.addItems(recent)
        self.recent.setMaximumWidth(600)
        self.recent.itemActivated.connect(lambda item: self.path_chosen.emit(Path(item.text())))
        if recent:
            layout.addWidget(QLabel("Recent files:"), alignment=Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(self.recent, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addStretch()
