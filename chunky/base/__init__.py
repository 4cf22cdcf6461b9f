"""The bottom layer: user-facing errors, names, file-system helpers and the lock retry. Standard library
(and filelock) only, so it also runs under a bare Windows CPython."""
