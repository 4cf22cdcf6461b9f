"""What a transcription is (words, segments, the transcript) and how words group into cues. No torch."""
