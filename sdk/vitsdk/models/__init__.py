"""ViT/DeiT models with token and attention sparsity, their registry, checkpoints and accounting."""
from vitsdk.models.accounting import Accounting, count
from vitsdk.models.checkpoint import (LoadReport, load_model, load_pretrained, read_state_dict,
                                      save_checkpoint)
from vitsdk.models.config import ViTConfig, keep_count
from vitsdk.models.registry import create_model, get_config, list_models, register_model
from vitsdk.models.schedule import KeepRateSchedule
from vitsdk.models.vision_transformer import VisionTransformer

__all__ = [
    "Accounting", "KeepRateSchedule", "LoadReport", "ViTConfig", "VisionTransformer", "count", "create_model",
    "get_config", "keep_count", "list_models", "load_model", "load_pretrained", "read_state_dict",
    "register_model", "save_checkpoint",
]
