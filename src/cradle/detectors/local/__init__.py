"""The embedded local detectors: the fine-tuned encoder (ONNX Runtime) and the TF-IDF linear model (NumPy)."""

from cradle.detectors.local.detector import (
    MAX_CHARS,
    EncoderDetector,
    LocalDetector,
    default_model_path,
    fast_model_path,
    from_spec,
)
from cradle.detectors.local.encoder import EncoderModel, is_encoder_folder
from cradle.detectors.local.model import LocalModel, ModelFormatError

__all__ = [
    "MAX_CHARS",
    "LocalDetector",
    "EncoderDetector",
    "LocalModel",
    "EncoderModel",
    "ModelFormatError",
    "default_model_path",
    "fast_model_path",
    "is_encoder_folder",
    "from_spec",
]
