"""Training detectors: the local detector, SFT export, fine-tuning, adapter merging, model cards."""
