"""``python -m chunky doctor`` and the page's system check: what on this PC could break Chunky."""
