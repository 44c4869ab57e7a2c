"""The `kubectl rewind` plugin: undo, history, time travel and lineage diffs from the terminal."""
