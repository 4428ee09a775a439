"""Detectors: one protocol, many engines (LLM providers, transformers, the embedded local model)."""

from cradle.detectors.base import (
    ENGINES,
    Detector,
    DetectorSpec,
    SpecError,
    TurnDetector,
    apredict_in_thread,
    load_detector,
    parse_spec,
)

__all__ = [
    "ENGINES",
    "Detector",
    "DetectorSpec",
    "SpecError",
    "TurnDetector",
    "apredict_in_thread",
    "load_detector",
    "parse_spec",
]
