"""How the weights are updated: the optimizers with weight decay and momentum in each paper's form
(`kerascnn.optim.optimizers`), and the learning-rate schedules as the papers state them
(`kerascnn.optim.schedules`). Both are Keras objects registered for `.keras` files, so a saved
model's optimizer reloads in safe mode."""

from kerascnn.optim.optimizers import SGD, Adam, AdamW, RMSprop, decays
from kerascnn.optim.schedules import EpochSchedule, Schedule

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "decays", "Schedule", "EpochSchedule"]
