"""Recordings: probing and streaming decode to mono float32 at the model's rate, pauses (energy, VAD).

Importing the package itself is light (no numpy): the settings read :data:`PAUSE_METHODS` from here.
"""

PAUSE_METHODS = ("auto", "silero", "energy")  # how chunky.audio.vad.pauses finds pauses
