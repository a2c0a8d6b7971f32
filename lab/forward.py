"""A TCP forward from the host's loopback into the lab namespace's loopback.

The agent runs inside the lab namespace (where the lab devices are); this lets a person
on the host open http://127.0.0.1:PORT. Both ends are loopback: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from lab import netns


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def serve(namespace: str, listen_port: int, target_port: int,
                host: str = "127.0.0.1") -> asyncio.Server:
    """Listen on host:listen_port here; forward each connection to host:target_port in
    `namespace`."""

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with netns.enter(namespace):
            # The socket is created inside the namespace and stays there after we leave it.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, target_port))
        except OSError:
            sock.close()
            w.close()
            return
        tr, tw = await asyncio.open_connection(sock=sock)
        await asyncio.gather(_pipe(r, tw), _pipe(tr, w))

    return await asyncio.start_server(handle, host, listen_port, reuse_address=True)
