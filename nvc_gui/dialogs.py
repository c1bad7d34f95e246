"""Small dialogs: the frame size of a raw .yuv, and the model/device/cache settings."""

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QPushButton, QSpinBox, QWidget)

from nvc_gui.settings import Settings


def _buttons(dialog: QDialog) -> QDialogButtonBox:
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


class SizeDialog(QDialog):
    """Asks the width and height of a raw .yuv (4:2:0) whose name does not say `_WxH`."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Frame size of {name}")
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box, value in ((self.width_box, 352), (self.height_box, 288)):
            box.setRange(2, 16384)
            box.setSingleStep(2)
            box.setValue(value)
        layout = QFormLayout(self)
        layout.addRow("width", self.width_box)
        layout.addRow("height", self.height_box)
        layout.addRow(_buttons(self))

    def frame_size(self) -> tuple[int, int]:
        """(width, height) as entered."""
        return self.width_box.value(), self.height_box.value()


class SettingsDialog(QDialog):
    """Weights, device (CUDA only when available) and frame-cache limit."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.weights = QLineEdit(settings.weights)
        self.weights.setPlaceholderText("bundled weights")
        self.weights.setToolTip('empty: bundled weights; "random": random initialisation; or a .pt file')
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights)
        weights_row.addWidget(browse)
        self.device = QComboBox()
        self.device.addItem("cpu")
        import torch        # by now loaded by the worker (the window appears before torch)
        if torch.cuda.is_available():
            self.device.addItem("cuda")
        self.device.setCurrentText(settings.device)
        self.cache_mb = QSpinBox()
        self.cache_mb.setRange(64, 1 << 20)
        self.cache_mb.setSuffix(" MB")
        self.cache_mb.setValue(settings.cache_mb)
        layout = QFormLayout(self)
        layout.addRow("weights", weights_row)
        layout.addRow("device", self.device)
        layout.addRow("frame cache", self.cache_mb)
        layout.addRow(_buttons(self))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights", "", "PyTorch weights (*.pt *.pth)")
        if path:
            self.weights.setText(path)

    def store(self, settings: Settings) -> None:
        """Copy the dialog's values into `settings`."""
        settings.weights = self.weights.text().strip()
        settings.device = self.device.currentText()
        settings.cache_mb = self.cache_mb.value()
