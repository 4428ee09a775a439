"""The embedded local detector: TF-IDF and cue features, a calibrated linear model, NumPy only."""

from cradle.detectors.local.detector import MAX_CHARS, EncoderDetector, LocalDetector, default_model_path, fast_model_path, from_spec
from cradle.detectors.local.encoder import EncoderModel, is_encoder_folder
from cradle.detectors.local.model import LocalModel, ModelFormatError

__all__ = ["MAX_CHARS", "LocalDetector", "LocalModel", "ModelFormatError", "default_model_path", "from_spec"]
