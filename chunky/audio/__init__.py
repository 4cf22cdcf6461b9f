"""Recordings: probing and streaming decode to mono float32 at the model's rate, pauses (energy, VAD)."""
