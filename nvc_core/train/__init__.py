"""Training of NVC (Sec. III-F, IV-A): ``nvc train``.

``stages``   the progressive schedule (intra, motion Steps 0-3, residual, joint, multi-frame)
``losses``   rate, eq. (3) multiscale warping loss, MSE
``data``     photos, videos / frame folders, Vimeo-90k, mixtures
``synthetic`` clips with known motion made from photos
``trainer``  loop, checkpoints, log, export, time budget;  ``config`` YAML + overrides;  ``cli`` the subcommand
``loader``   batches made ahead of the step in worker processes, uint8 onto the device
``pack``     the training data as a compact folder that travels (``nvc train pack``)
``check``    training-time bpp / PSNR / loss of weights on one clip, no range coding (``nvc train check``)
"""
