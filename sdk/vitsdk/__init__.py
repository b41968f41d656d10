"""vitsdk: train Vision Transformers with Tri-Level sparsity, block-prune them once, and export and
benchmark the same weights on phones, host and FPGA.

Heavy backends (exporters, runtimes) are imported only by the code that needs them.
"""
from vitsdk.errors import UserError
from vitsdk.models import ViTConfig, VisionTransformer, create_model, list_models

__version__ = "0.1.0"

__all__ = ["UserError", "ViTConfig", "VisionTransformer", "create_model", "list_models", "__version__"]
