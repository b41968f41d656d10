"""Training: `fit` (the trainer) and the Tri-Level sparsity levels (examples, tokens, attention).

    from vitsdk.training import fit, TrainConfig, TokenLevel
    result = fit(model, train, TrainConfig(epochs=10, token=TokenLevel(0.7)), out_dir="runs/a")
"""
from vitsdk.training.config import AttentionLevel, ExampleLevel, TokenLevel, TrainConfig
from vitsdk.training.examples import ExamplePool, ForgettingStats, LossScores
from vitsdk.training.trainer import METRICS_FILE, StepInfo, TrainingDiverged, TrainResult, evaluate, fit

__all__ = ["AttentionLevel", "ExampleLevel", "ExamplePool", "ForgettingStats", "LossScores", "METRICS_FILE", "StepInfo",
           "TokenLevel", "TrainConfig", "TrainResult", "TrainingDiverged", "evaluate", "fit"]
