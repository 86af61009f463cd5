"""How fast each epoch trained, in its log line, its history.csv row and metrics.json: as timm's
train.py logs its throughput and data time with every line.

- `images_per_second`: the epoch's training images over its training time (from the epoch's start
  to its last step's end; validation is not counted).
- `data_wait`: the share of that time the training loop spent between steps, getting the next batch
  (timm's "data time"). Near 0 when the input keeps up with the network; near 1 when the network
  waits for images (a slow disk, augmentation on too few cores). On the TensorFlow backend Keras
  reads a tf.data input inside its compiled step, so the wait is counted as step time there and
  `data_wait` stays near 0: a slow pipeline shows as fewer images/s. On JAX and PyTorch (the grain
  path) the batch is fetched between steps, where this measures it.
"""

from __future__ import annotations

import time

import keras

__all__ = ["Throughput"]


class Throughput(keras.callbacks.Callback):
    """Adds `images_per_second` and `data_wait` to each epoch's logs (so Keras' progress line, the
    history and the callbacks after it see them). `images`: training images in an epoch."""

    def __init__(self, images: int, clock=time.perf_counter):
        super().__init__()
        self.images = self.full = int(images)  # `images` is lowered for a cut last epoch
        self.clock = clock

    def on_epoch_begin(self, epoch, logs=None):
        self._started = self._step_ended = self.clock()
        self._waited = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._waited += self.clock() - self._step_ended

    def on_train_batch_end(self, batch, logs=None):
        self._step_ended = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._step_ended - self._started
        if logs is None or seconds <= 0 or self.images <= 0:
            return
        logs["images_per_second"] = round(self.images / seconds, 1)
        logs["data_wait"] = round(min(self._waited / seconds, 1.0), 4)
