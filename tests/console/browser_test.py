#!/usr/bin/env python3
"""The node console in a real browser (docs/node-console.md).

Starts fedc-node-console on a fresh node (its own node.ini, a self-signed
certificate), then headless Chromium through chromedriver's WebDriver HTTP
API, and after every step reads the node's sqlite database for the effect
and its audit row:

  1. a wrong password is refused and audited (login-failed);
  2. the right one logs in (login);
  3. a pending plan is approved with a note (training_plans, plan_decisions,
     audit plan-approve);
  4. a dataset is added by path (datasets, audit dataset-add);
  5. the jobs page shows recorded rounds, a message with markup as text;
  6. a POST without the CSRF token, sent from the logged-in page, is refused
     (403, audit csrf-refused) and changes nothing;
  7. the dataset is removed after the confirmation dialog (audit
     dataset-remove); logging out ends the session (audit logout).

Usage: browser_test.py BIN_DIR FIXTURES_DIR [SCREENSHOT_DIR]
Never skips: a missing chromium or chromedriver is a failure.
"""
import base64
import json
import shutil
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "correct horse battery staple"
DIGEST = "ab" * 32


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit(f"FAIL: {what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"FAIL: {what} did not listen on port {port}")


class WebDriver:
    """The few WebDriver commands the test needs, over HTTP."""

    def __init__(self, port, profile):
        self.base = f"http://127.0.0.1:{port}"
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "acceptInsecureCerts": True,
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", "--user-data-dir=" + profile]}}}}
        self.sid = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            sys.exit(f"FAIL: WebDriver {method} {path}: {e.read().decode()[:400]}")

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.sid}{path}", body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def find(self, css):
        el = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(el.values()))

    def type(self, css, text):
        self.s("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css):
        self.s("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css):
        return self.s("GET", f"/element/{self.find(css)}/text")

    def wait_text(self, css, want, timeout=15):
        """The text of `css` once it holds `want`: a click that submits a
        form may return before the answer page is there."""
        end = time.monotonic() + timeout
        text = None
        while time.monotonic() < end:
            found = self.s("POST", "/elements", {"using": "css selector", "value": css})
            if found:
                try:
                    text = self.s("GET", f"/element/{next(iter(found[0].values()))}/text")
                except SystemExit:
                    text = None  # the page changed under us: look again
                if text is not None and want in text:
                    return text
            time.sleep(0.05)
        sys.exit(f"FAIL: {css} never held {want!r} (last: {text!r})")

    def script(self, js, args=None):
        return self.s("POST", "/execute/async", {"script": js, "args": args or []})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.s("GET", "/screenshot")))

    def quit(self):
        self.call("DELETE", f"/session/{self.sid}")


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


def main():
    bin_dir, fixtures = sys.argv[1], sys.argv[2]
    shots = sys.argv[3] if len(sys.argv) > 3 else None
    for exe in (CHROMIUM, CHROMEDRIVER):
        check(os.access(exe, os.X_OK), f"{exe} is installed (apt-get install chromium chromium-driver)")
    work = tempfile.mkdtemp(prefix="fedc-console-")
    ini = os.path.join(work, "node.ini")
    node = os.path.join(bin_dir, "fedc-node")
    console = os.path.join(bin_dir, "fedc-node-console")
    subprocess.run([node, "--config", ini, "init", "--id", "hospital-a", "--data-dir", "data"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    os.path.join(work, "key.pem"), "-out", os.path.join(work, "cert.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1"], check=True, stderr=subprocess.DEVNULL)
    port = free_port()
    text = open(ini).read().replace("port = 8443", f"port = {port}")
    text = text.replace(";tls_cert_file =", "tls_cert_file = cert.pem").replace(";tls_key_file =", "tls_key_file = key.pem")
    open(ini, "w").write(text)
    subprocess.run([console, "--config", ini, "user", "add", "steward"], input=PASSWORD + "\n", text=True, check=True)
    db_path = os.path.join(work, "data", "node.db")
    db = sqlite3.connect(db_path)
    # A researcher's approval request, as the daemon records it
    # (db__plan_register: a pending row naming who asked).
    with db:
        db.execute("INSERT INTO training_plans (name, digest, status, requested_by, requested_at)"
                   " VALUES ('logreg-v2', ?, 'pending', 'researcher-1', strftime('%s','now'))", (DIGEST,))

    def audit(action):
        return db.execute("SELECT user, target, detail FROM console_audit WHERE action = ? ORDER BY id",
                          (action,)).fetchall()

    server = subprocess.Popen([console, "--config", ini, "serve"], stderr=open(os.path.join(work, "console.log"), "w"))
    driver_port = free_port()
    chromedriver = subprocess.Popen([CHROMEDRIVER, f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    wd = None
    try:
        wait_port(port, server, "fedc-node-console")
        wait_port(driver_port, chromedriver, "chromedriver")
        wd = WebDriver(driver_port, os.path.join(work, "chromium-profile"))
        url = f"https://127.0.0.1:{port}"
        wd.go(url + "/plans")
        check(wd.text("h1") == "Log in", "an anonymous visit is sent to the login page")
        if shots:
            wd.screenshot(os.path.join(shots, "console-login.png"))

        wd.type("#user", "steward")
        wd.type("#password", "not the password")
        wd.click("#login")
        check("Wrong user name or password" in wd.wait_text("#message", "Wrong"), "a wrong password is refused")
        check(audit("login-failed") == [("steward", "", "wrong password")], "the refused login is audited")

        wd.type("#user", "steward")
        wd.type("#password", PASSWORD)
        wd.click("#login")
        check(wd.wait_text("h1", "Plans") == "Plans", "the right password logs in")
        check(len(audit("login")) == 1, "the login is audited")
        check("logreg-v2" in wd.text("#pending"), "the pending plan is listed with its name")
        if shots:
            wd.screenshot(os.path.join(shots, "console-plans-pending.png"))

        wd.type("form.decide input[name=note]", "reviewed source v2, ok for cohort A")
        wd.click("form.decide button.approve")
        check("Plan approved." in wd.wait_text("#message", "Plan approved."), "the page says the plan is approved")
        row = db.execute("SELECT status, notes FROM training_plans WHERE digest = ?", (DIGEST,)).fetchone()
        check(row == ("approved", "reviewed source v2, ok for cohort A"), "the node's database has the plan approved")
        check(db.execute("SELECT decision, note, decided_by FROM plan_decisions WHERE digest = ?", (DIGEST,)).fetchall()
              == [("approved", "reviewed source v2, ok for cohort A", "steward")], "the decision is in the history")
        check(audit("plan-approve") == [("steward", DIGEST, "reviewed source v2, ok for cohort A")],
              "the approval is audited with its note")
        if shots:
            wd.screenshot(os.path.join(shots, "console-plans-decided.png"))

        wd.go(url + "/datasets")
        csv = os.path.join(fixtures, "csv", "counts_classes.csv")
        wd.type("#ds-name", "cohort-a")
        wd.type("#ds-tags", "demo,cohort-a")
        wd.type("#ds-path", csv)
        wd.click("#ds-add")
        check("cohort-a" in wd.wait_text("#datasets", "cohort-a"), "the added dataset is listed")
        row = db.execute("SELECT name, path, digest FROM datasets").fetchall()
        check(len(row) == 1 and row[0][0] == "cohort-a" and row[0][1] == os.path.realpath(csv) and len(row[0][2]) == 64,
              "the node's database has the dataset with its digest")
        check(audit("dataset-add") == [("steward", "cohort-a", os.path.realpath(csv))] or
              audit("dataset-add") == [("steward", "cohort-a", csv)], "the dataset's registration is audited")
        if shots:
            wd.screenshot(os.path.join(shots, "console-datasets.png"))
        wd.click("#datasets a")
        check(row[0][2] in wd.wait_text("#dataset", row[0][2]), "the dataset page shows its digest")
        if shots:
            wd.screenshot(os.path.join(shots, "console-dataset-show.png"))

        # A form the page did not make (no csrf field), as a forged
        # cross-site form would be; submitted from the logged-in page.
        wd.script("var f = document.createElement('form'); f.method = 'post'; f.action = '/datasets/remove';"
                  "var i = document.createElement('input'); i.name = 'id'; i.value = 'cohort-a';"
                  "f.appendChild(i); document.body.appendChild(f); f.submit(); arguments[0]();")
        status = 403 if "security token" in wd.wait_text("#message", "security token") else None
        check(status == 403, "a POST without the CSRF token is refused")
        check(db.execute("SELECT count(*) FROM datasets").fetchone()[0] == 1, "and removes nothing")
        check(len(audit("csrf-refused")) == 1, "the refused POST is audited")

        # Two rounds of a job as the daemon records them (node/job_log.c; the
        # integration tests run real ones), the second refused with a
        # message holding markup, which must show as text.
        ds_id = db.execute("SELECT id FROM datasets").fetchone()[0]
        evil = "<img src=x onerror=\"document.title='owned'\">"
        with db:
            for rnd, result, detail, n in ((1, "ok", "", 120), (2, "privacy", evil, 0)):
                db.execute("INSERT INTO job_rounds (at, job_id, researcher_id, dataset_id, plan_digest, round, kind,"
                           " result, detail, n_samples) VALUES (strftime('%s','now'), 'job-7', 'researcher-1', ?, ?,"
                           " ?, 'train', ?, ?, ?)", (ds_id, DIGEST, rnd, result, detail, n))
            db.execute("INSERT INTO dp_rounds (job_id, round, fingerprint, noise, at) VALUES ('job-7', 1, 'f1', 1.1,"
                       " strftime('%s','now'))")
        wd.go(url + "/jobs")
        jobs = wd.text("#jobs")
        check("researcher-1" in jobs and "cohort-a" in jobs and "1 of 2" in jobs,
              "the jobs page shows who ran what on which dataset, and how many rounds succeeded")
        check(evil in jobs and wd.s("GET", "/title") != "owned", "a recorded message with markup shows as text")
        check("over 1 DP rounds" in jobs, "the jobs page shows the privacy cost")
        if shots:
            wd.screenshot(os.path.join(shots, "console-jobs.png"))

        wd.go(url + "/datasets")
        wd.click("form.remove button")  # asks for confirmation (console.js)
        wd.s("POST", "/alert/accept", {})
        check("Dataset removed." in wd.wait_text("#message", "Dataset removed."), "a dataset is removed after confirming")
        check(db.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0, "and is gone from the node's database")
        check(len(audit("dataset-remove")) == 1, "the removal is audited")

        wd.go(url + "/audit")
        check("csrf-refused" in wd.text("#audit"), "the audit page shows the refusal")
        if shots:
            wd.screenshot(os.path.join(shots, "console-audit.png"))
        wd.click("#logout")
        wd.wait_text("h1", "Log in")
        check(len(audit("logout")) == 1, "the logout is audited")
        wd.go(url + "/plans")
        check(wd.wait_text("h1", "Log in") == "Log in", "after logout the console asks for a login again")
    finally:
        if wd:
            wd.quit()
        chromedriver.terminate()
        server.terminate()
        chromedriver.wait(10)
        server.wait(10)
        db.close()
        if server.returncode == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept", work, "(console.log there)")
    check(server.returncode == 0, "the console stops cleanly on SIGTERM")
    print("PASS")


if __name__ == "__main__":
    main()
