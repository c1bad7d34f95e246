"""NLAM attention masks (mean over channels, in [0, 1]) of each coder's main and hyper encoder and
decoder, selectable, alone or over the frame."""

from nvc_gui.views.base import ChooserImageView, FrameContext, KeyChooser
from nvc_gui.views.image_view import ImageView


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
        record = self._context.record
        mask = record.attention.get(key)
        if mask is None:
            self.image.clear("no attention mask in this frame")
            return
        h, w = mask.shape
        underlay, opacity = self.underlay(record)
        self.image.set_title(f"NLAM {key}  {w}x{h}")
        self.image.set_scalar(mask, self._context.frame_size, levels=(0.0, 1.0),
                              underlay=underlay, opacity=opacity, extent=self._context.padded_size)
