"""Client deadlines as absolute `time.monotonic()` values.

The transport turns a client's remaining time into a deadline once; the
request path checks it before each expensive step, so work for a client
that has given up is skipped rather than done and thrown away.
"""

import time

from serving.server import errors


def from_time_remaining(seconds):
    """Returns the deadline `seconds` from now, or None for no deadline."""
    return None if seconds is None else time.monotonic() + seconds


def remaining(deadline):
    """Seconds left before `deadline` (None: no deadline, wait forever)."""
    return None if deadline is None else deadline - time.monotonic()


def check(deadline):
    """Raises DEADLINE_EXCEEDED if `deadline` has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        raise errors.deadline_exceeded()
