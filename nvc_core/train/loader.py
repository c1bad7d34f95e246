"""Training batches, made ahead of the step in worker processes, and their way onto the device.

An inter-stage sample is CPU work: a clip cropped and flipped (a synthetic clip rendered: ~30 ms for
3 frames of 192x192 on this project's CPU) and the encoder's DIS flow estimate of every P-frame
(~5 ms a pair, :func:`nvc_core.train.data.flow_hints`). On a GPU that would be most of a step, so
``workers`` processes (a torch DataLoader) prepare the next batches while the device trains on the
current one; ``workers: 0`` makes them in the training process.

Batch k of a stage depends only on (seed, rank, stage, k): the same batches with any number of
workers, and a resumed stage draws the batch it would have drawn next. Batches travel as uint8
(pinned memory on CUDA) and become float on the device (:func:`nvc_core.train.data.to_batch`).
"""
from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from nvc_core.train.data import flow_hints

#: Batches each worker keeps ready.
PREFETCH = 4


class StageBatches(Dataset):
    """Batch ``step`` of a stage: (B,T,H,W,3) uint8 clips and their (B,T-1,2,H,W) flow hints or None."""

    def __init__(self, source, batch: int, crop: int, frames: int, hints: bool, seed: tuple[int, ...]):
        self.source, self.batch, self.crop, self.frames = source, batch, crop, frames
        self.hints, self.seed = hints, seed

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        rng = np.random.default_rng([*self.seed, step])
        samples = [self.source.sample(rng, self.crop, self.frames) for _ in range(self.batch)]
        return torch.from_numpy(np.stack(samples)), flow_hints(samples) if self.hints else None


class Batches:
    """Endless iterator over the batches of a stage from ``first``; ``wait_s``: time spent waiting for them."""

    def __init__(self, batches: StageBatches, first: int, workers: int, pin_memory: bool):
        if workers:
            # One core per worker (torch runs workers on one thread). Set before the fork: a worker that
            # inherits OpenCV's thread pool and then changes it deadlocks.
            cv2.setNumThreads(1)
        loader = DataLoader(batches, batch_size=None, sampler=itertools.count(first), num_workers=workers,
                            pin_memory=pin_memory, prefetch_factor=PREFETCH if workers else None,
                            generator=torch.Generator())   # leaves the global torch RNG to the training step
        self._batches = iter(loader)
        self.wait_s = 0.0

    def __iter__(self) -> "Batches":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        start = time.perf_counter()
        batch = next(self._batches)
        self.wait_s += time.perf_counter() - start
        return batch

    def close(self) -> None:
        """Stop the workers (the stage may end with batches still being made)."""
        self._batches = None
