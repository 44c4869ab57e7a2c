"""Code Rewind puts into serving runtimes it does not own (each module standalone: no `rewind` imports)."""
