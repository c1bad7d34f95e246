"""Bit maps of the latents: estimated bits per spatial position of one latent ("<coder>.<y|z>"),
summed over channels or for one channel, alone or over the frame; and, for the motion latents, the
bits the temporal prior saves (estimate without it minus estimate with it). Each latent cell is
drawn at its true place: the maps cover the frame padded to a multiple of 64."""

import numpy as np
from PySide6.QtWidgets import QSpinBox

from nvc_gui.views.base import ChooserImageView, FrameContext, KeyChooser
from nvc_gui.views.image_view import ImageView
from nvc_gui.views.scale import value_range

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

    def _map(self, context: FrameContext, key: str) -> np.ndarray | None:
        """The map shown for `key` in `context`'s frame: bits saved `(h, w)`, or bits summed over
        channels or of the chosen channel `(h, w)`; None when the frame has none."""
        if key == BITS_SAVED:
            return context.encoding.bits_saved_map(context.index)
        bits = context.encoding.bit_map(context.index, key, context.temporal_prior)
        if bits is None:
            return None
        channel = min(self.channel.value(), bits.shape[0] - 1)
        return bits.sum(axis=0) if channel == ALL_CHANNELS else bits[channel]

    def _levels(self, context: FrameContext, key: str, shown: np.ndarray) -> tuple[float, float]:
        """The colour scale's levels: bits from 0, the saving symmetric around 0."""
        symmetric = key == BITS_SAVED
        encoding = context.encoding

        def over_clip():
            frames = (FrameContext(encoding, i, context.temporal_prior) for i in range(len(encoding.records)))
            return bits_range((self._map(c, key) for c in frames), symmetric)

        clip_key = (id(encoding), len(encoding.records), key, self.channel.value(), context.temporal_prior)
        return self.scale.levels(bits_range([shown], symmetric), clip_key, over_clip)

    def _redraw(self) -> None:
        context = self._context
        if context is None:
            return
        key = self.latent.currentText()
        record = context.record
        underlay, opacity = self.underlay(record)
        extent = context.padded_size
        shown = self._map(context, key)
        if key == BITS_SAVED:
            self.channel.setEnabled(False)
            if shown is None:
                self.image.set_title(self.image.title)
                self.image.clear("no motion latents in this frame, or not re-costed yet")
                return
            levels = self._levels(context, key, shown)
            total = context.encoding.bits_saved(context.index)
            on, off = (context.encoding.motion_estimate(context.index, p) for p in (True, False))
            self.image.set_scalar(shown, context.frame_size, levels=levels, unit="bits",
                                  colormap="CET-D1", underlay=underlay, opacity=opacity, extent=extent)
            self.image.set_title(f"temporal prior saves {total:.1f} bits of motion ŷ ({off:.1f} without − "
                                 f"{on:.1f} with, estimates) · {self.scale.describe('bits')}")
            return
        self.channel.setEnabled(True)
        if shown is None:
            self.image.set_title(self.image.title)
            self.image.clear(self._missing(context, key))
            return
        bits = context.encoding.bit_map(context.index, key, context.temporal_prior)
        self.channel.setMaximum(bits.shape[0] - 1)
        channel = self.channel.value()
        what = "Σ channels" if channel == ALL_CHANNELS else f"channel {channel}"
        prior = f", temporal prior {'on' if context.temporal_prior else 'off'}" if key == "motion.y" else ""
        levels = self._levels(context, key, shown)
        self.image.set_scalar(shown, context.frame_size, levels=levels, unit="bits", colormap="inferno",
                              underlay=underlay, opacity=opacity, extent=extent)
        self.image.set_title(f"{key}: {float(bits.sum(dtype=np.float64)):.1f} bits (estimate{prior}) · "
                             f"{'x'.join(map(str, bits.shape))} {what} · {self.scale.describe('bits')}")

    @staticmethod
    def _missing(context: FrameContext, key: str) -> str:
        """Why the frame shows no map of `key`."""
        record = context.record
        if key == "motion.y" and record.frame_type == "P":
            return (f"motion.y with the temporal prior {'on' if context.temporal_prior else 'off'}: "
                    "being re-costed…")
        return f"no {key or 'latent'} in this {record.frame_type}-frame"


def bits_range(maps, symmetric: bool) -> tuple[float, float] | None:
    """Levels of bit maps: 0..max (bits are never negative), or symmetric for a saving."""
    levels = value_range(maps, symmetric)
    if levels is None or symmetric:
        return levels
    return 0.0, levels[1]
