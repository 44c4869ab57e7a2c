"""Rewind: a Kubernetes operator that makes a bad model update as easy to undo as a typo."""

__version__ = "0.1.0"
