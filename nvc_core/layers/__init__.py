"""Building blocks shared by the coders: convolutions, residual blocks, attention (NLAM/LAM), warping."""
from nvc_core.layers.blocks import ResidualBlock, conv, deconv
from nvc_core.layers.nlam import LAM, NLAM, NonLocalBlock
from nvc_core.layers.warp import backward_warp

__all__ = ["ResidualBlock", "conv", "deconv", "NLAM", "LAM", "NonLocalBlock", "backward_warp"]
