"""The typed API (rewind.dev/v1alpha1): the one source of the CRD schemas."""
