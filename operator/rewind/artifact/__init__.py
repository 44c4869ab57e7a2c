"""The artifact init step: download a model artifact and verify its sha256 before the runtime starts."""
