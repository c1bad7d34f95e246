"""Training of NVC (Sec. III-F, IV-A): ``nvc train``.

``stages``   the progressive schedule (intra, motion Steps 0-3, residual, joint, multi-frame)
``losses``   rate, eq. (3) multiscale warping loss, MSE
``data``     photos, videos / frame folders, Vimeo-90k, mixtures
``synthetic`` clips with known motion made from photos
``trainer``  loop, checkpoints, log, export;  ``config`` YAML + overrides;  ``cli`` the subcommand
"""
