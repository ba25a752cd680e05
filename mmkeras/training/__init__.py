"""Precision policy, training configuration and resumable training."""

from mmkeras.training.precision import resolve_precision
from mmkeras.training.trainer import TrainConfig
from mmkeras.training.trainer import TrainResult
from mmkeras.training.trainer import load_task
from mmkeras.training.trainer import train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "load_task",
    "resolve_precision",
    "train",
]
