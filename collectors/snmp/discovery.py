"""The SNMPv3 engine-discovery probe: one unauthenticated request over a connected UDP socket,
to tell a live agent that ignores our community or key from a dead one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from collectors.snmp import ber
from collectors.snmp.protocol import Target

log = logging.getLogger(__name__)


class _DiscoveryProtocol(asyncio.DatagramProtocol):
    def __init__(self, msg_id: int, answer: asyncio.Future[bytes | None]) -> None:
        self._msg_id = msg_id
        self._answer = answer

    def datagram_received(self, data: bytes, addr: object) -> None:
        engine_id = ber.parse_discovery_reply(data, self._msg_id)
        if engine_id is not None and not self._answer.done():
            self._answer.set_result(engine_id)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on our connected socket: nothing listens there.
        if not self._answer.done():
            self._answer.set_result(None)


async def discover_engine_id(
    target: Target,
    *,
    timeout: float,  # noqa: ASYNC109 -- the probe's whole budget
) -> bytes | None:
    """Send one SNMPv3 engine-ID discovery request (RFC 3414 §4) to `target`.

    Returns the agent's engine ID (possibly empty) if any SNMPv3 message answering it comes
    back within `timeout` seconds, else None (no answer, or port unreachable). Needs no
    credentials: any v3-capable agent answers with a Report (usmStatsUnknownEngineIDs),
    whatever community or user it was configured with. The msgID comes from the system
    CSPRNG, so a forged answer from the target's address must guess it.
    """
    msg_id = 1 + secrets.randbelow(2**31 - 1)
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes | None] = loop.create_future()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _DiscoveryProtocol(msg_id, answer), remote_addr=target
        )
    except OSError as exc:
        log.debug("snmp discovery not sent", extra={"target": target[0], "error": str(exc)})
        return None
    try:
        transport.sendto(ber.encode_discovery(msg_id, 1 + secrets.randbelow(2**31 - 1)))
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                return await answer
        except TimeoutError:
            return None
    finally:
        transport.close()
