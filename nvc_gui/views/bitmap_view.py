"""Bit maps of the latents: estimated bits per spatial position of one latent ("<coder>.<y|z>"),
summed over channels or for one channel, alone or over the frame; and, for the motion latents, the
bits the temporal prior saves (estimate without it minus estimate with it). Each latent cell is
drawn at its true place: the maps cover the frame padded to a multiple of 64."""

import numpy as np
from PySide6.QtWidgets import QSpinBox

from nvc_gui.views.base import ChooserImageView, FrameContext, KeyChooser
from nvc_gui.views.image_view import ImageView

BITS_SAVED = "bits saved by temporal prior (motion.y)"
ALL_CHANNELS = -1


class BitMapView(ChooserImageView):
    """Bit map of the chosen latent (or of the temporal prior's saving) for the current frame."""

    def __init__(self):
        channel = QSpinBox()
        channel.setMinimum(ALL_CHANNELS)
        channel.setSpecialValueText("Σ channels")
        channel.setPrefix("channel ")
        channel.setValue(ALL_CHANNELS)
        super().__init__(KeyChooser("motion.y"), ImageView("Bits per latent element", colormap="inferno"),
                         extra=(channel,))
        self.latent, self.channel = self.chooser, channel
        self.channel.valueChanged.connect(self._redraw)

    def show_frame(self, context: FrameContext) -> None:
        self._context = context
        keys = list(context.record.bit_maps)
        self.latent.offer(keys, (BITS_SAVED,) if "motion.y" in keys else ())
        self._redraw()

    def _redraw(self) -> None:
        context = self._context
        if context is None:
            return
        key = self.latent.currentText()
        record = context.record
        underlay, opacity = self.underlay(record)
        extent = context.padded_size
        if key == BITS_SAVED:
            saved = context.encoding.bits_saved_map(context.index)
            self.channel.setEnabled(False)
            if saved is None:
                self.image.clear("no motion latents in this frame, or not re-costed yet")
                return
            bound = max(float(np.abs(saved).max()), 1e-3)
            total = context.encoding.bits_saved(context.index)
            self.image.set_title(f"motion ŷ bits saved by the temporal prior: {total:.2f} bits "
                                 "(estimates: without − with)")
            self.image.set_scalar(saved, context.frame_size, levels=(-bound, bound), unit="bits",
                                  colormap="CET-D1", underlay=underlay, opacity=opacity, extent=extent)
            return
        bits = context.encoding.bit_map(context.index, key, context.temporal_prior)
        self.channel.setEnabled(True)
        if bits is None:
            self.image.clear(f"no {key or 'latent'} in this {record.frame_type}-frame")
            return
        self.channel.setMaximum(bits.shape[0] - 1)
        channel = self.channel.value()
        shown = bits.sum(axis=0) if channel == ALL_CHANNELS else bits[channel]
        what = "Σ channels" if channel == ALL_CHANNELS else f"channel {channel}"
        prior = f", temporal prior {'on' if context.temporal_prior else 'off'}" if key == "motion.y" else ""
        self.image.set_title(f"{key} {'x'.join(map(str, bits.shape))} {what}: "
                             f"{float(bits.sum(dtype=np.float64)):.1f} bits (estimate){prior}")
        self.image.set_scalar(shown, context.frame_size, levels=(0.0, max(float(shown.max()), 1e-3)),
                              unit="bits", colormap="inferno", underlay=underlay, opacity=opacity,
                              extent=extent)
