"""Coding defaults shared by the command line, the codec API and the evaluation (one home; no torch)."""

#: Rate point used when none is given (0 = lowest rate).
DEFAULT_QUALITY = 3
#: Intra period used when none is given (the paper uses 12 on UVG).
DEFAULT_GOP = 12
#: Frames per clip by default (an I-frame and 7 P-frames): the default run (4 clips, 6 qualities, both
#: anchors) took 23 min (1364 s, 0.8 GB peak RSS) on this project's 2-core machine with other jobs
#: running (load average 4 to 7).
DEFAULT_EVAL_FRAMES = 8
#: Highest encoder effort (``--effort``): 0 = no latent refinement (:mod:`nvc_core.refine`).
MAX_EFFORT = 3
