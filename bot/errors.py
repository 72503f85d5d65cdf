"""Errors that map to the exit codes the CLI promises (see DESIGN.md)."""

from __future__ import annotations

EXIT_DONE = 0
EXIT_NOT_HEALED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class SelfhealError(Exception):
    """An error whose message is written for the person running selfheal."""

    exit_code = EXIT_INTERNAL


class BadInput(SelfhealError):
    """Bad command line, configuration, or repository state: the user can fix it."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(BadInput):
    """A configuration key or value is wrong; the message names the key and where it came from."""


class GitError(SelfhealError):
    """A git operation failed; the message carries git's own words."""


class ProposalError(SelfhealError):
    """The fix exists but could not be proposed (push refused, remote unreachable)."""

    exit_code = EXIT_NOT_HEALED
