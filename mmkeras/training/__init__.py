"""Precision policy, training loop configuration and resumable training."""

from mmkeras.training.precision import resolve_precision
from mmkeras.training.trainer import TrainConfig
from mmkeras.training.trainer import TrainResult
from mmkeras.training.trainer import load_training_outputs
from mmkeras.training.trainer import train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "load_training_outputs",
    "resolve_precision",
    "train",
]
