"""Intra-op threads for sequential samplers (autoregressive pixels, code priors, token loops).

A sampler that runs hundreds of tiny forward passes one after another gains nothing from a second intra-op thread, and
on a busy CPU (the server's other requests, a training job) each product that takes BLAS's threaded path waits for
that thread to be scheduled: measured with a training job on both cores, 0.25-0.3 ms a pixel of PixelCNN++ on one
thread against 1-10 ms on two. ``torch.set_num_threads`` acts on the calling thread (and on threads whose torch
runtime starts after it), so :class:`OneThread` is entered around each step, in the thread that runs it, and the
caller's setting is restored before control returns (a streaming sampler may be resumed on another worker thread).
"""
from __future__ import annotations

import torch

THREADED_BATCH = 16  # from this batch size on, a step's products are large enough to share among threads


class OneThread:
    """The enclosed ops on one intra-op thread when ``active``, the thread's setting restored on exit."""

    def __init__(self, active: bool = True):
        self.active = active
        self.threads = 1

    def __enter__(self):
        self.threads = torch.get_num_threads() if self.active else 1
        if self.threads > 1:
            torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.threads > 1:
            torch.set_num_threads(self.threads)
