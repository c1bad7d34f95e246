"""The coding controls: rate point, GOP length, number of frames, temporal prior."""

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QSpinBox, QWidget

from nvc_gui.settings import Settings

RECODE_DELAY_MS = 400   # settle time after the last change before the clip is coded again


class CodingControls(QWidget):
    """Changing the rate point, GOP or frame count re-codes the clip (after a short settle time);
    toggling the temporal prior only re-costs the motion bits (no re-coding)."""

    recode_requested = Signal()
    prior_toggled = Signal(bool)

    def __init__(self, settings: Settings):
        super().__init__()
        self.quality = QSpinBox()
        self.quality.setRange(0, max(settings.quality, 0))
        self.quality.setValue(settings.quality)
        self.quality.setToolTip("Rate point: 0 = lowest rate")
        self.gop = QSpinBox()
        self.gop.setRange(1, 1000)
        self.gop.setValue(settings.gop)
        self.gop.setToolTip("GOP length (intra period)")
        self.frames = QSpinBox()
        self.frames.setRange(0, 100000)
        self.frames.setSpecialValueText("all")
        self.frames.setValue(settings.frames)
        self.frames.setToolTip("Number of frames to code (0 = the whole clip)")
        self.temporal_prior = QCheckBox("temporal prior (TUM)")
        self.temporal_prior.setChecked(settings.temporal_prior)
        self.temporal_prior.setToolTip("Motion entropy model with the ConvLSTM temporal prior; toggling "
                                       "re-costs the motion bits live, the reconstruction is unchanged")
        layout = QFormLayout(self)
        layout.addRow("rate point", self.quality)
        layout.addRow("GOP", self.gop)
        layout.addRow("frames", self.frames)
        layout.addRow(self.temporal_prior)
        self._settle = QTimer(self, singleShot=True, interval=RECODE_DELAY_MS)
        self._settle.timeout.connect(self.recode_requested)
        for spin in (self.quality, self.gop, self.frames):
            spin.valueChanged.connect(lambda _value: self._settle.start())
        self.temporal_prior.toggled.connect(self.prior_toggled)

    def set_num_rates(self, num_rates: int) -> None:
        """Offer the rate points of the loaded model (a value beyond them is clamped and re-coded)."""
        self.quality.setMaximum(num_rates - 1)

    def store(self, settings: Settings) -> None:
        """Copy the current values into `settings`."""
        settings.quality = self.quality.value()
        settings.gop = self.gop.value()
        settings.frames = self.frames.value()
        settings.temporal_prior = self.temporal_prior.isChecked()
