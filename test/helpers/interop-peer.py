#!/usr/bin/env python3
"""A peer written with nothing but Python's `socket` and `struct`, for the interoperability tests.

An address is a socket path, or `@name` for the Linux abstract namespace (bound as b'\\0name', exactly
len(name) + 1 bytes, which is how every non-libuv program spells it).

Modes (each prints one line per event on stdout, flushed, so the test can wait for it):

  server ADDR FRAMING [CONNECTIONS]
      Listens, prints `READY <pid>`, then for each of CONNECTIONS (default 1) connections in turn echoes
      every frame until the peer ends its side, then ends its own and prints `DONE <frames> <bytes>`.
  client ADDR FRAMING HEX...
      Connects, prints `CONNECTED`, sends each frame (given in hex) in one write, reads the same number
      of frames back and prints each as `FRAME <hex>`, ends its side, reads to EOF and prints
      `EOF <bytes after the echoed frames>`.
  stale PATH
      Binds a socket file and closes it without unlinking: a file nobody listens on.
  backlog ADDR
      Listens with a backlog of 0 and never accepts; connects until the kernel refuses more, so a
      further connect finds the backlog full. Prints `READY <fillers>` and waits for stdin to close.

FRAMING is `length-prefixed` (4-byte big-endian length, then the payload) or `lines` (payload + \\n).
"""
import os
import socket
import struct
import sys


def address(text):
    if text.startswith("@"):
        return b"\0" + text[1:].encode()
    return text


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def exact(self, n):
        while len(self.buf) < n:
            if not self.fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self, framing):
        if framing == "length-prefixed":
            header = self.exact(4)
            if header is None:
                return None
            (length,) = struct.unpack(">I", header)
            payload = self.exact(length)
            if payload is None:
                raise SystemExit("EOF in the middle of a frame")
            return payload
        while b"\n" not in self.buf:
            if not self.fill():
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def rest(self):
        while self.fill():
            pass
        out, self.buf = self.buf, b""
        return out


def encode(framing, payload):
    if framing == "length-prefixed":
        return struct.pack(">I", len(payload)) + payload
    return payload + b"\n"


def server(addr, framing, connections):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(address(addr))
    s.listen(16)
    say("READY %d" % os.getpid())
    for _ in range(connections):
        conn, _ = s.accept()
        reader = Reader(conn)
        frames = 0
        total = 0
        while True:
            payload = reader.frame(framing)
            if payload is None:
                break
            frames += 1
            total += len(payload)
            conn.sendall(encode(framing, payload))
        conn.shutdown(socket.SHUT_WR)
        conn.close()
        say("DONE %d %d" % (frames, total))
    s.close()


def client(addr, framing, hexes):
    payloads = [bytes.fromhex(h) for h in hexes]
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(address(addr))
    say("CONNECTED")
    c.sendall(b"".join(encode(framing, p) for p in payloads))
    reader = Reader(c)
    for _ in payloads:
        payload = reader.frame(framing)
        if payload is None:
            break
        say("FRAME " + payload.hex())
    c.shutdown(socket.SHUT_WR)
    say("EOF %d" % len(reader.rest()))
    c.close()


def stale(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()


def backlog(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(address(addr))
    s.listen(0)
    fillers = []
    while True:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(address(addr))
        except BlockingIOError:
            c.close()
            break
        fillers.append(c)
    say("READY %d" % len(fillers))
    sys.stdin.read()


def main(argv):
    mode = argv[1]
    if mode == "server":
        server(argv[2], argv[3], int(argv[4]) if len(argv) > 4 else 1)
    elif mode == "client":
        client(argv[2], argv[3], argv[4:])
    elif mode == "stale":
        stale(argv[2])
    elif mode == "backlog":
        backlog(argv[2])
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
