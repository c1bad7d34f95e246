"""nvc_core: the NVC neural video codec (Liu et al., "Neural Video Coding using Multiscale Motion
Compensation and Spatiotemporal Context Model") — models, entropy coding, bitstream, video I/O, CLI."""

__version__ = "0.1.0"
