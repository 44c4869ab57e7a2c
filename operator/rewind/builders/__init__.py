"""Pure builders of the serving objects a ModelDeployment owns: Deployments, Services, HTTPRoute patches.

Every function here is a pure function of the spec and what was observed, and returns plain dicts with
camelCase keys, ready to send to the API server. Nothing in this package does I/O; the applier decides
whether to create or patch.
"""
