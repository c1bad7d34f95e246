"""NLAM attention masks (mean over channels, in [0, 1], drawn on their own range by default) of each coder's main and hyper encoder and
decoder, selectable, alone or over the frame."""

from nvc_gui.views.base import ChooserImageView, FrameContext, KeyChooser
from nvc_gui.views.image_view import ImageView
from nvc_gui.views.scale import value_range


class AttentionView(ChooserImageView):
    """One attention mask, chosen among the keys "<coder>.<main|hyper>_<enc|dec>" of the clip."""

    def __init__(self):
        super().__init__(KeyChooser("motion.main_enc"), ImageView("NLAM attention", colormap="viridis"))
        self.mask = self.chooser

    def show_frame(self, context: FrameContext) -> None:
        self._context = context
        self.mask.offer(list(context.record.attention))
        self._redraw()

    def _redraw(self) -> None:
        if self._context is None:
            return
        key = self.mask.currentText()
        encoding, record = self._context.encoding, self._context.record
        mask = record.attention.get(key)
        if mask is None:
            self.image.set_title(self.image.title)
            self.image.clear("no attention mask in this frame")
            return
        h, w = mask.shape
        underlay, opacity = self.underlay(record)
        clip_key = (id(encoding), len(encoding.records), key)
        levels = self.scale.levels(value_range([mask]), clip_key,
                                   lambda: value_range(r.attention.get(key) for r in encoding.records))
        self.image.set_scalar(mask, self._context.frame_size, levels=levels,
                              underlay=underlay, opacity=opacity, extent=self._context.padded_size)
        self.image.set_title(f"NLAM {key}: mean {float(mask.mean()):.4g} · {w}x{h} · {self.scale.describe()}")
