"""Output formats: one small writer per format behind ``get_writer``. No torch."""
