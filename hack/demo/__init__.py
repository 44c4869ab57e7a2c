"""`make demo`: a real rollout on a local control plane, and a bad model version rolled back by itself.

Run through hack/demo.sh, which provides MLServer in a venv of its own; `python -m hack.demo` from the
repository root.
"""
