"""Speech recognition: one recording in, one Transcript out (chunk plan, batches, stitching)."""
