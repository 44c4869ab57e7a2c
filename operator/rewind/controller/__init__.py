"""The I/O layer: observe the cluster, run analysis, apply the core's actions, persist status."""
