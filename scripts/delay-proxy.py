#!/usr/bin/env python3
"""A TCP proxy that adds latency, for benchmarks against a registry on loopback.

Every chunk of data is forwarded DELAY milliseconds after it arrived, in each direction,
so a request/response round trip costs about 2 * DELAY more than on loopback. Chunks are
delayed independently (a pipeline, not a queue of sleeps): latency goes up, throughput does
not go down. The TCP handshake itself is not delayed.

    delay-proxy.py --upstream 127.0.0.1:5000 --delay-ms 25 [--listen 127.0.0.1:0]

Prints the address it listens on (`127.0.0.1:PORT`) as its first line of output, then runs
until SIGTERM/SIGINT, or until --lifetime seconds have passed (a safety net so a forgotten
proxy does not run forever). Python 3 standard library only.
"""

import argparse
import asyncio
import signal
import sys

CHUNK = 64 * 1024


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk (and the final EOF) `delay` seconds late."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def receive():
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((loop.time() + delay, b""))

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    receiver = asyncio.ensure_future(receive())
    try:
        await send()
    finally:
        receiver.cancel()


async def handle(client_reader, client_writer, upstream, delay):
    host, port = upstream
    try:
        server_reader, server_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    try:
        await asyncio.gather(
            pump(client_reader, server_writer, delay),
            pump(server_reader, client_writer, delay),
        )
    except (ConnectionError, OSError):
        pass
    finally:
        for w in (client_writer, server_writer):
            w.close()


def host_port(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, type=host_port, help="HOST:PORT to forward to")
    parser.add_argument("--listen", default="127.0.0.1:0", type=host_port, help="HOST:PORT (port 0: a free one)")
    parser.add_argument("--delay-ms", type=float, required=True, help="delay per chunk and direction")
    parser.add_argument("--lifetime", type=float, default=3600, help="exit after this many seconds (0: never)")
    args = parser.parse_args()
    delay = args.delay_ms / 1000

    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.upstream, delay), *args.listen, backlog=1024
    )
    host, port = server.sockets[0].getsockname()[:2]
    print(f"{host}:{port}", flush=True)

    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    try:
        await asyncio.wait_for(stop, timeout=args.lifetime or None)
    except asyncio.TimeoutError:
        print("delay-proxy: lifetime over, exiting", file=sys.stderr)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
