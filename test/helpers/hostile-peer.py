#!/usr/bin/env python3
"""Hostile peers for test/hostile-peers.test.ts, written with nothing but Python's socket module.

ADDR is a Unix socket path, or tcp:HOST:PORT. Every mode prints one line per step on stdout (flushed),
so the test can wait for it.

  trickle ADDR HEX INTERVAL_MS
      Connects, prints CONNECTED, then sends the bytes one at a time, INTERVAL_MS apart, until all are
      sent or a send fails. Prints SENT <n> or FAILED <n> <errno name>.
  noread ADDR
      Connects, prints CONNECTED, and never reads; waits for stdin to close, then closes.
  reset ADDR HEX [unread]
      Connects, prints CONNECTED, sends the bytes in one write, prints SENT, waits for a line on stdin,
      then closes with SO_LINGER {1, 0} (an RST on TCP) and prints RESET. With `unread`, it first
      waits (without reading) until the server has sent it something, so that on a Unix socket the
      close leaves unread data behind, which Linux reports to the other side as ECONNRESET.
"""
import errno
import select
import socket
import struct
import sys
import time


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def open_socket(addr):
    if addr.startswith("tcp:"):
        host, port = addr[4:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr)
    return s


def main():
    mode, addr = sys.argv[1], sys.argv[2]
    s = open_socket(addr)
    say("CONNECTED")
    if mode == "trickle":
        data = bytes.fromhex(sys.argv[3])
        interval = int(sys.argv[4]) / 1000.0
        sent = 0
        try:
            for b in data:
                s.send(bytes([b]))
                sent += 1
                time.sleep(interval)
        except OSError as e:
            say("FAILED %d %s" % (sent, errno.errorcode.get(e.errno, str(e.errno))))
            return
        say("SENT %d" % sent)
        sys.stdin.read()
    elif mode == "noread":
        sys.stdin.read()
        s.close()
    elif mode == "reset":
        s.sendall(bytes.fromhex(sys.argv[3]))
        say("SENT")
        if len(sys.argv) > 4 and sys.argv[4] == "unread":
            select.select([s], [], [], 10)
            say("UNREAD")
        sys.stdin.readline()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        say("RESET")
        sys.stdin.read()
    else:
        raise SystemExit("unknown mode " + mode)


main()
