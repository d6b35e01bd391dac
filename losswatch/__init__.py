"""losswatch: watch deep-learning training logs, tell when training goes wrong, act on it."""

__version__ = "0.1.0"
