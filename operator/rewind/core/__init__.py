"""The pure decision core: no I/O, no clock. `rollout.decide` is the entry point."""
