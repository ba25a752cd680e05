"""Running a check periodically on a background thread.

Used for --file_system_poll_wait_seconds (new and removed versions) and
--model_config_file_poll_wait_seconds (config file changes). A failing
poll is logged and the next one still runs: a model directory being
rewritten must not stop the server from watching it.
"""

import logging
import threading

logger = logging.getLogger(__name__)


class Poller:
    """Calls `poll()` every `interval_seconds` until stopped.

    Args:
        interval_seconds: float. Time between the end of one poll and the
            start of the next; must be positive.
        poll: callable taking no argument.
        name: str. The thread's name, shown in logs and stack dumps.
    """

    def __init__(self, interval_seconds, poll, name):
        if interval_seconds <= 0:
            raise ValueError(
                f"Poll interval must be positive, got {interval_seconds}; "
                "0 means no polling, so do not start a Poller for it."
            )
        self.interval_seconds = interval_seconds
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=name, daemon=True
        )

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout=None):
        """Stops polling and waits for a poll in progress to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self):
        while not self._stop.wait(self.interval_seconds):
            try:
                self._poll()
            except Exception:  # keep watching after a bad poll
                logger.exception("Poll on %s failed", self._thread.name)
