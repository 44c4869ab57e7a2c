"""The one kind of failure the plugin reports: a sentence for the user, exit code 1."""

from __future__ import annotations


class CliError(Exception):
    """Bad input, a refusal, or an API failure, said in one sentence. Nothing was changed."""
