"""Temporary re-export: the bundle reader moved to `vitsdk.formats.manifest` (issue 12); removed once bench/* imports it."""
from vitsdk.bench.runtimes import HOST_RUNTIMES
from vitsdk.formats.manifest import Bundle, ModelFile, load_bundle
__all__ = ["Bundle", "HOST_RUNTIMES", "ModelFile", "load_bundle"]
