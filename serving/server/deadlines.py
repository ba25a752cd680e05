"""Client deadlines as absolute `time.monotonic()` values.

The transport turns a client's remaining time into a deadline once; the
request path checks it before each expensive step, so work for a client
that has given up is skipped rather than done and thrown away.
"""

import time

from serving.server import errors

# gRPC reports a call without a deadline as ~infinite time remaining; any
# wait that long overflows time_t in threading. Beyond a day means none.
_NO_DEADLINE_SECONDS = 24 * 3600


def from_time_remaining(seconds):
    """Returns the deadline `seconds` from now, or None for no deadline."""
    if seconds is None or seconds > _NO_DEADLINE_SECONDS:
        return None
    return time.monotonic() + seconds


def remaining(deadline):
    """Seconds left before `deadline` (None: no deadline, wait forever)."""
    return None if deadline is None else deadline - time.monotonic()


def check(deadline):
    """Raises DEADLINE_EXCEEDED if `deadline` has passed."""
    if deadline is not None and time.monotonic() >= deadline:
        raise errors.deadline_exceeded()
