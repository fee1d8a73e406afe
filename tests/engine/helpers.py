"""Small helpers shared by the engine tests."""

import os

MIB = 1 << 20


def listing(path):
    """Sorted directory entries: what a failed download must leave empty."""
    return sorted(os.listdir(path))


class Recorder:
    """Records on_start / on_progress calls."""

    def __init__(self):
        self.starts = []
        self.progress = []

    def on_start(self, name, total):
        self.starts.append((name, total))

    def on_progress(self, done, total):
        self.progress.append((done, total))
