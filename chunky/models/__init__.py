"""NeMo models on disk and in memory: archives, the store of pre-extracted models, downloads, the manager
that loads them. Importing this package imports no torch, nemo or numpy."""
