#!/usr/bin/env python3
"""Helper of wan_link_smoke.sh: a TCP echo across bench_wan_link, and its counters.

  wan_echo.py server ADDR PORT          echo one connection's bytes back, then exit
  wan_echo.py client ADDR PORT BYTES    send BYTES random bytes, check the echo; print the connect time in ms
  wan_echo.py counters FILE             print the link's counters (bench/wan_link.h) as key=value lines
"""
import os
import socket
import struct
import sys
import threading
import time


def server(addr, port):
    with socket.create_server((addr, port)) as s:
        s.settimeout(30)
        conn, _ = s.accept()
        with conn:
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    break
                conn.sendall(data)


def client(addr, port, n):
    payload = os.urandom(n)
    deadline = time.monotonic() + 10
    while True:  # the server may not listen yet
        try:
            start = time.monotonic()
            s = socket.create_connection((addr, port), timeout=10)
            connect_ms = (time.monotonic() - start) * 1e3
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    # Send and read at once: the server echoes as it reads, so a client that
    # sent everything before reading could stall both ends once the
    # buffers between them are full (a slow relay drops, windows stay small).
    sent = []

    def send_all():
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            sent.append(True)
        except OSError as e:
            sent.append(e)

    with s:
        s.settimeout(30)
        sender = threading.Thread(target=send_all)
        sender.start()
        back = bytearray()
        while True:
            data = s.recv(1 << 16)
            if not data:
                break
            back += data
        sender.join()
    if sent != [True]:
        sys.exit(f"sending failed: {sent}")
    if bytes(back) != payload:
        sys.exit(f"echo differs: sent {n} bytes, got {len(back)} back")
    print(f"{connect_ms:.3f}")


def counters(path):
    names = ["magic", "pid", "delay_us", "rate_bps", "turnarounds", "connections",
             "up_packets", "up_bytes", "up_drops", "down_packets", "down_bytes", "down_drops"]
    with open(path, "rb") as f:
        values = struct.unpack(f"={len(names)}Q", f.read(8 * len(names)))
    for k, v in zip(names, values):
        print(f"{k}={v}")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        server(sys.argv[2], int(sys.argv[3]))
    elif mode == "client":
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        counters(sys.argv[2])
