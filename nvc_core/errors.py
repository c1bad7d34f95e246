"""User-facing errors: each carries a one-line message that the CLI and the analyzer show as is."""


class NVCError(Exception):
    """Base of every error caused by bad input (files, sizes, weights, options)."""


class VideoError(NVCError):
    """A video file cannot be read or written."""


class BitstreamError(NVCError):
    """A .nvc bitstream is corrupt, truncated, or made by other weights or another version."""


class WeightsError(NVCError):
    """Weights cannot be loaded or do not fit the model."""


class Cancelled(Exception):
    """Raised inside a coding loop when the caller asked it to stop."""


class DriftError(NVCError):
    """Strict decoding: a frame's reconstruction differs from the encoder's (the stream itself is intact)."""
