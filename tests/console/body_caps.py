#!/usr/bin/env python3
"""Test console.body_caps (docs/node-console.md, "Request bodies"): the node
console reads no unbounded body for a request it refuses.

Starts fedc-node-console on a node config of its own (no broker or daemon
needed), then talks raw HTTP/1.1 over TLS to it:

  1. an upload (declaring 1 GiB), a form POST and a login (declaring 1000
     bytes) from a client without a session, none sending a byte of its
     body, are answered 403 at once (and the connection closed): the body
     is never waited for; a form declaring more than 16 KiB is answered 413
     the same way, a PUT 405 and a GET with a body 400;
  2. logged in, bodies that never pass the token check are cut: a chunked
     form that goes on past 16 KiB, an upload whose first field is a wrong
     token and then a file, an upload whose preamble never ends. Each is
     offered 64 MiB; the console closes the connection after a bounded
     read, so the client cannot hand over the rest (loopback buffers hold a
     few MiB). The uploads folder stays empty and the token refusals are
     audited;
  3. a small forged upload (wrong token) still gets its 403 page, and a real
     upload larger than the pre-token cap (breast_cancer.csv, 117 KiB) is
     registered: the caps do not stand in the way of the steward.

Usage: body_caps.py --bin DIR --source DIR --work DIR
"""
import argparse
import os
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import time

PASSWORD = "correct horse battery staple"
OFFERED = 64 << 20  # bytes a client tries to push after a refusal
BOUNDARY = "fedc-caps-boundary"


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Console:
    def __init__(self, port):
        self.port = port
        self.ctx = ssl._create_unverified_context()

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        return self.ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    @staticmethod
    def head(method, url, headers):
        lines = [f"{method} {url} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    @staticmethod
    def read_response(conn):
        """(status, headers as one lower-case string, body) of one response;
        status 0 when the connection ends without one."""
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                got = conn.recv(65536)
                if not got:
                    return 0, "", b""
                data += got
            head, body = data.split(b"\r\n\r\n", 1)
            m = re.search(rb"content-length: *(\d+)", head, re.I)
            while m and len(body) < int(m.group(1)):
                got = conn.recv(65536)
                if not got:
                    break
                body += got
        except (OSError, ssl.SSLError):
            return 0, "", b""
        status = int(head.split(b" ", 2)[1])
        return status, head.decode("latin-1").lower(), body

    def request(self, method, url, headers=None, body=b""):
        """A whole request: (status, headers, body)."""
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        with self.connect() as conn:
            conn.sendall(self.head(method, url, headers) + body)
            return self.read_response(conn)

    def headers_only(self, url, headers):
        """Sends only the head of a POST (its body is declared, never sent)
        and reads the answer."""
        with self.connect() as conn:
            conn.sendall(self.head("POST", url, headers))
            return self.read_response(conn)

    def push(self, url, headers, first, chunked=False):
        """Sends `first`, then zeros until OFFERED bytes went or the console
        stops taking them; the number of body bytes handed over."""
        sent = 0
        with self.connect() as conn:
            conn.sendall(self.head("POST", url, headers))
            piece = b"0" * 65536
            try:
                for data in [first] + [piece] * (OFFERED // len(piece)):
                    if chunked:
                        data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
                    conn.sendall(data)
                    sent += len(data)
                if chunked:
                    conn.sendall(b"0\r\n\r\n")
                self.read_response(conn)
            except (OSError, ssl.SSLError):
                pass
        return sent


def multipart(parts):
    out = b""
    for name, value, filename in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + value + b"\r\n"
    return out


def cookie_of(headers):
    m = re.search(r"set-cookie: fedc_console=([0-9a-f]+)", headers)
    return m.group(1) if m else None


def csrf_of(body):
    m = re.search(rb'name="csrf" value="([0-9a-f]+)"', body)
    return m.group(1).decode() if m else None


def start(args, work):
    port = free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    os.path.join(work, "console.key"), "-out", os.path.join(work, "console.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1"], check=True, stderr=subprocess.DEVNULL)
    config = os.path.join(work, "node.ini")
    with open(config, "w") as f:
        f.write(f"[node]\nid = hospital-caps\ndata_dir = {work}/data\n[broker]\nurl = ssl://127.0.0.1:1\n"
                f"[repository]\nurl = https://127.0.0.1:1\n[console]\nport = {port}\n"
                f"tls_cert_file = {work}/console.pem\ntls_key_file = {work}/console.key\n")
    console = os.path.join(args.bin, "fedc-node-console")
    subprocess.run([console, "--config", config, "user", "add", "steward"], input=PASSWORD + "\n", text=True,
                   check=True)
    server = subprocess.Popen([console, "--config", config, "serve"],
                              stderr=open(os.path.join(work, "console.log"), "w"))
    end = time.monotonic() + 20
    while True:
        if server.poll() is not None:
            sys.exit(f"FAIL: fedc-node-console exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > end:
                sys.exit("FAIL: fedc-node-console did not listen")
            time.sleep(0.05)
    return server, Console(port)


def without_session(c):
    form = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "1000"}
    upload = {"Content-Type": "multipart/form-data; boundary=" + BOUNDARY, "Content-Length": str(1 << 30)}
    for what, url, headers in (("an upload", "/datasets/upload", upload),
                               ("a form POST", "/datasets/remove", form),
                               ("a login", "/login", form)):
        status, head, _ = c.headers_only(url, headers)
        check(status == 403 and "connection: close" in head,
              f"{what} without a session is answered 403 before its body ({status})")
    status, head, _ = c.request("GET", "/login")
    anon = cookie_of(head)
    check(status == 200 and anon is not None, "the login page hands out an anonymous session")
    status, head, _ = c.headers_only("/login", dict(form, Cookie="fedc_console=" + anon,
                                                    **{"Content-Length": str(16385)}))
    check(status == 413 and "connection: close" in head, f"a form declared past 16 KiB is answered 413 at once ({status})")
    with c.connect() as conn:
        conn.sendall(c.head("PUT", "/datasets", {"Content-Length": str(1 << 30)}))
        status, _, _ = c.read_response(conn)
    check(status == 405, f"a PUT is answered 405 before its body ({status})")
    with c.connect() as conn:
        conn.sendall(c.head("GET", "/datasets", {"Content-Length": "1000"}))
        status, _, _ = c.read_response(conn)
    check(status == 400, f"a GET with a body is answered 400 before it ({status})")
    return anon


def log_in(c, anon):
    status, _, body = c.request("GET", "/login", {"Cookie": "fedc_console=" + anon})
    token = csrf_of(body)
    form = f"csrf={token}&user=steward&password={PASSWORD.replace(' ', '+')}".encode()
    status, head, _ = c.request("POST", "/login", {"Cookie": "fedc_console=" + anon,
                                                   "Content-Type": "application/x-www-form-urlencoded"}, form)
    cookie = cookie_of(head)
    check(status == 303 and cookie, f"the steward logs in ({status})")
    status, _, body = c.request("GET", "/datasets", {"Cookie": "fedc_console=" + cookie})
    check(status == 200 and csrf_of(body), "the datasets page carries the session's token")
    return cookie, csrf_of(body)


def cut_bodies(c, cookie, token, uploads, db):
    cut = OFFERED // 2  # far more than any cap, far less than what was offered
    sent = c.push("/plans/decide", {"Cookie": "fedc_console=" + cookie, "Transfer-Encoding": "chunked",
                                    "Content-Type": "application/x-www-form-urlencoded"}, b"csrf=" + token.encode(),
                  chunked=True)
    check(sent < cut, f"a chunked form past 16 KiB is cut ({sent} of {OFFERED} bytes handed over)")
    upload = {"Cookie": "fedc_console=" + cookie, "Content-Type": "multipart/form-data; boundary=" + BOUNDARY,
              "Content-Length": str(OFFERED + 4096)}
    wrong = "0" * 64 if token != "0" * 64 else "1" * 64
    first = multipart([("csrf", wrong.encode(), None)]) + \
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'.encode()
    sent = c.push("/datasets/upload", upload, first)
    check(sent < cut, f"an upload with a wrong token is cut ({sent} of {OFFERED} bytes handed over)")
    sent = c.push("/datasets/upload", upload, b"a preamble that never reaches a boundary\r\n")
    check(sent < cut, f"an upload whose token never comes is cut ({sent} of {OFFERED} bytes handed over)")
    check(os.listdir(uploads) == [], "no file was written for them")
    audited = db.execute("SELECT count(*) FROM console_audit WHERE action = 'csrf-refused'"
                         " AND target = '/datasets/upload'").fetchone()[0]
    check(audited == 2, f"the two uploads' token refusals are audited ({audited})")


def small_and_real(c, cookie, token, uploads, csv, db):
    body = multipart([("csrf", b"0" * 64, None), ("name", b"x", None), ("file", b"a,b\n1,0\n", "a.csv")])
    body += f"--{BOUNDARY}--\r\n".encode()
    headers = {"Cookie": "fedc_console=" + cookie, "Content-Type": "multipart/form-data; boundary=" + BOUNDARY}
    status, _, page = c.request("POST", "/datasets/upload", headers, body)
    check(status == 403 and b"security token" in page, f"a small forged upload gets its 403 page ({status})")
    with open(csv, "rb") as f:
        data = f.read()
    check(len(data) > 64 << 10, "the real file is larger than the pre-token cap")
    body = multipart([("csrf", token.encode(), None), ("name", b"cohort-caps", None), ("tags", b"demo", None),
                      ("file", data, "breast_cancer.csv")]) + f"--{BOUNDARY}--\r\n".encode()
    status, _, page = c.request("POST", "/datasets/upload", headers, body)
    check(status == 200, f"a real upload is taken ({status})")
    row = db.execute("SELECT n_samples FROM datasets WHERE name = 'cohort-caps'").fetchone()
    check(row == (569,), "and registered with its 569 rows")
    check(len(os.listdir(uploads)) == 1, "its file is the one in the uploads folder")


def main():
    ap = argparse.ArgumentParser()
    for opt in ("bin", "source", "work"):
        ap.add_argument("--" + opt, required=True)
    args = ap.parse_args()
    work = os.path.realpath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    server, c = start(args, work)
    try:
        anon = without_session(c)
        cookie, token = log_in(c, anon)
        uploads = os.path.join(work, "data", "uploads")
        os.makedirs(uploads, exist_ok=True)  # made by the first upload; empty either way
        db = sqlite3.connect(os.path.join(work, "data", "node.db"))
        cut_bodies(c, cookie, token, uploads, db)
        small_and_real(c, cookie, token, uploads,
                       os.path.join(args.source, "examples", "data", "breast_cancer.csv"), db)
        db.close()
    finally:
        server.terminate()
        server.wait(10)
    check(server.returncode == 0, "the console stops cleanly on SIGTERM")
    print("PASS")


if __name__ == "__main__":
    main()
