#!/usr/bin/env python3
"""The Python twin of hostile-client.js `connect` mode, for the abstract namespace (Node 20's net cannot
connect to an abstract name). Run as another user by the access-control tests; one JSON line per event.

  hostile-client.py connect ADDR [FRAME]
      ADDR is a socket path, or @name for the abstract namespace (b'\\0name', len(name) + 1 bytes).
      With FRAME, sends it length-prefixed, waits for one length-prefixed frame back, then shuts down
      its side and reads to the end. Events: start {uid}, connected, frame {text}, end, error {code},
      close.
"""
import errno
import json
import os
import socket
import struct
import sys


def say(**obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    say(event="start", uid=os.getuid(), gid=os.getgid())
    addr = sys.argv[2]
    frame = sys.argv[3] if len(sys.argv) > 3 else None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(8)
    try:
        s.connect(b"\0" + addr[1:].encode() if addr.startswith("@") else addr)
        say(event="connected")
        if frame is None:
            s.shutdown(socket.SHUT_WR)
        else:
            body = frame.encode()
            s.sendall(struct.pack(">I", len(body)) + body)
        buf = b""
        got = False
        while True:
            chunk = s.recv(65536)
            if not chunk:
                say(event="end")
                break
            buf += chunk
            if not got and len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                got = True
                n = struct.unpack(">I", buf[:4])[0]
                say(event="frame", text=buf[4 : 4 + n].decode())
                s.shutdown(socket.SHUT_WR)
    except socket.timeout:
        say(event="timeout")
    except OSError as e:
        say(event="error", code=errno.errorcode.get(e.errno, str(e.errno)))
    s.close()
    say(event="close")


main()
