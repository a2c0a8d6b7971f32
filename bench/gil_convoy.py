"""Why `/metrics` is not rendered in a thread: a thread running Python makes each of the event
loop's syscalls wait for the interpreter. Times bursts of 333 UDP `sendto` to a socket of our
own on loopback (an ICMP sweep's tick at 10,000 devices) alone, then beside a thread that
builds exposition-like lines, at the default switch interval and at 0.5 ms.

    .venv/bin/python bench/gil_convoy.py [--bursts 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time

BURST = 333


def render_lines(stop: threading.Event) -> None:
    """Pure-Python string work, as a render of device lines does, until `stop` is set."""
    while not stop.is_set():
        b"".join(f'pantau_device_up{{device="d{i}"}} {i * 0.5!r}\n'.encode()
                 for i in range(20_000))


async def burst(out: socket.socket, to: tuple[str, int]) -> float:
    started = time.perf_counter()
    for i in range(BURST):
        with contextlib.suppress(BlockingIOError):
            out.sendto(b"\0" * 64, to)
        if i % 50 == 0:
            await asyncio.sleep(0)
    return time.perf_counter() - started


async def bursts(n: int, out: socket.socket, to: tuple[str, int]) -> list[float]:
    times = []
    for _ in range(n):
        times.append(await burst(out, to))
        await asyncio.sleep(0.05)
    return sorted(times)


async def main(n: int) -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)

    def drain() -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                sink.recv(128)

    asyncio.get_running_loop().add_reader(sink, drain)
    to = sink.getsockname()
    default = sys.getswitchinterval()
    for label, interval, thread in (("alone", default, False),
                                    ("beside a rendering thread", default, True),
                                    ("beside it, switch interval 0.5 ms", 0.0005, True)):
        sys.setswitchinterval(interval)
        stop = threading.Event()
        worker = threading.Thread(target=render_lines, args=(stop,))
        if thread:
            worker.start()
        try:
            times = await bursts(n, out, to)
        finally:
            stop.set()
            if thread:
                worker.join()
        print(f"{BURST} sendto {label:<36} median {times[len(times) // 2] * 1000:7.1f} ms, "
              f"max {times[-1] * 1000:7.1f} ms", flush=True)
    sys.setswitchinterval(default)
    sink.close()
    out.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=10, help="bursts per case (1-1000)")
    args = parser.parse_args()
    asyncio.run(main(max(1, min(args.bursts, 1000))))
