"""Training: LoRA on the top layers of a frozen Whisper, as a resumable run (see loop.py)."""
