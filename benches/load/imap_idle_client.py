#!/usr/bin/env python3
"""Opens N IMAP connections that each LOGIN, SELECT INBOX and IDLE, then holds them.

usage: imap_idle_client.py HOST PORT N [--tls] [--concurrency C] [--timeout SECONDS]

Connections are set up at most C at a time (LOGIN verifies an argon2id hash on the server,
19 MiB and tens of ms each, so an unbounded burst would measure the password hashing, not the
idle connections). Prints `idle N SECONDS` once every connection is idling (or `failed ...` and
exits 1), then keeps them open until stdin is closed, then prints `closed`.
"""
import argparse
import asyncio
import resource
import ssl
import sys
import time


async def until_tagged(reader, tag):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed by server")
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                raise ConnectionError(line.decode(errors="replace").strip())
            return


async def open_idle(host, port, ctx):
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    greeting = await reader.readline()
    if not greeting.startswith(b"* OK"):
        raise ConnectionError(greeting.decode(errors="replace").strip())
    writer.write(b"l LOGIN u@example.com pw\r\n")
    await until_tagged(reader, b"l")
    writer.write(b"s SELECT INBOX\r\n")
    await until_tagged(reader, b"s")
    writer.write(b"i IDLE\r\n")
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed during IDLE")
        if line.startswith(b"+"):
            return reader, writer
        if line.startswith(b"i "):
            raise ConnectionError(line.decode(errors="replace").strip())


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--timeout", type=float, default=240)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = None
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    gate = asyncio.Semaphore(a.concurrency)
    conns = []

    async def one():
        async with gate:
            conns.append(await open_idle(a.host, a.port, ctx))

    start = time.monotonic()
    tasks = [asyncio.create_task(one()) for _ in range(a.n)]
    done, pending = await asyncio.wait(tasks, timeout=a.timeout)
    elapsed = time.monotonic() - start
    errors = [t.exception() for t in done if t.exception() is not None]
    for t in pending:
        t.cancel()
    if errors or pending:
        sample = errors[0] if errors else "timeout"
        print(f"failed {len(conns)} idle, {len(errors)} errors, {len(pending)} unfinished "
              f"after {elapsed:.1f} s; first error: {sample!r}", flush=True)
        sys.exit(1)
    print(f"idle {len(conns)} {elapsed:.2f}", flush=True)
    # Hold until the caller closes stdin.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for _, w in conns:
        w.close()
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
