"""Running a ticket job (the SLA sweep, the SLA warnings, the outbox counts) every so many
seconds on the injected clock, for as long as the agent runs: a failing run is logged, not
fatal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from agent.core.clock import Clock
from agent.core.errors import BackendError, InvalidTransition

log = logging.getLogger(__name__)


async def run_periodically(seconds: float, clock: Clock, job: Callable[[], Awaitable[object]]
                           ) -> None:
    """Call `job` every `seconds` until cancelled; a failing run is logged, not fatal."""
    while True:
        await clock.sleep(seconds)
        try:
            await job()
        except (BackendError, InvalidTransition) as exc:
            log.warning("periodic ticket job failed", extra={"error": str(exc)})
        except Exception:
            # A bug: keep the traceback, keep the agent running (one guard per loop).
            log.exception("periodic ticket job crashed")
