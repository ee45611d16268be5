#!/usr/bin/env python3
"""The node console in a real browser (docs/node-console.md, "Tests").

Run by browser.sh, which starts a federation on loopback (broker,
repository, node hospital-a's daemon) and has the researcher send a real
`approval` request for logreg.so through the broker. This starts
fedc-node-console on that node (a [console] section added to its node.ini,
a self-signed certificate), then headless Chromium through chromedriver's
WebDriver HTTP API, and after every step reads the node's sqlite database
for the effect and its audit row:

  1. a wrong password is refused and audited (login-failed);
  2. the right one logs in (login);
  3. the researcher's pending plan is listed with who asked, when and the
     description the request carried; the source shipped with it is in the
     node's database (plan_sources) and its page shows plan.c escaped; the
     plan is approved with a note
     (training_plans, plan_decisions, audit plan-approve), and the
     researcher, asking again through the broker, is told "approved";
  4. a CSV file is uploaded from the browser's file picker (datasets, the
     file in data_dir/uploads with the digest of the original, audit
     dataset-upload); its page shows the file's first rows;
  5. an image folder and a NIfTI set are added by path; their pages show
     pictures the browser decodes (PNG from the console);
  6. the researcher trains on the uploaded dataset (one round of logreg);
     the jobs page shows who ran what on which dataset, and a recorded
     message holding markup shows as text;
  7. a POST without the CSRF token, sent from the logged-in page, is refused
     (403, audit csrf-refused) and changes nothing; uploads without the
     token, with it after the file, without a session or not as multipart
     are refused and write nothing;
  8. the uploaded dataset is removed after the confirmation dialog, with its
     file (audit dataset-remove); logging out ends the session (audit
     logout);
  9. the console's Prometheus endpoint ([console] metrics_listen,
     docs/monitoring.md) is scraped after the login and at the end: every
     line parses, and each counter equals what the steps above did, as the
     audit log recorded it (logins, CSRF refusals, uploads taken and
     refused with the file's bytes, datasets added and removed, the plan
     approval, audit records, requests by page and status class, sessions).

Usage: browser_test.py --bin DIR --plans DIR --source DIR --node-config INI
                       --network INI --work DIR [--screenshots DIR]
Never skips: a missing chromium or chromedriver is a failure.
"""
import argparse
import base64
import hashlib
import json
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.request
import zlib
import struct

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "correct horse battery staple"


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


def write_png(path, w, h, rgb):
    """A small RGB PNG, written by hand (no imaging library needed)."""
    raw = b"".join(b"\0" + bytes(v for x in range(w) for v in rgb(x, y)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_image_folder(root):
    for k, label in enumerate(("benign", "malignant")):
        os.makedirs(os.path.join(root, label))
        for i in range(3):
            write_png(os.path.join(root, label, f"scan-{i}.png"), 48, 36,
                      lambda x, y: ((x * 5 + i * 40) % 256, (y * 7) % 256, 60 + 140 * k))


def multipart(fields):
    """A multipart/form-data body: (content type, bytes); "file" is a file part."""
    boundary = "fedc-test-boundary"
    out = b""
    for name, value in fields:
        disp = f'form-data; name="{name}"' + ('; filename="a.csv"' if name == "file" else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n{value}\r\n".encode()
    return "multipart/form-data; boundary=" + boundary, out + f"--{boundary}--\r\n".encode()


def post(url, headers, body):
    """The HTTP status of a POST to the console (its certificate is self-signed)."""
    content_type, data = body
    headers = dict(headers)
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ssl._create_unverified_context()) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def researcher(args, *cmd):
    return subprocess.run([os.path.join(args.bin, "fedc-researcher"), *cmd], capture_output=True, text=True,
                          timeout=120)


def setup_console(args, work):
    """A [console] section in the node's own node.ini; a certificate; an account."""
    port, metrics_port = free_port(), free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    os.path.join(work, "console.key"), "-out", os.path.join(work, "console.pem"), "-days", "2",
                    "-subj", "/CN=127.0.0.1"], check=True, stderr=subprocess.DEVNULL)
    with open(args.node_config, "a") as f:
        f.write(f"\n[console]\nport = {port}\ntls_cert_file = {work}/console.pem\n"
                f"tls_key_file = {work}/console.key\nmetrics_listen = 127.0.0.1:{metrics_port}\n")
    console = os.path.join(args.bin, "fedc-node-console")
    subprocess.run([console, "--config", args.node_config, "user", "add", "steward"], input=PASSWORD + "\n",
                   text=True, check=True)
    return console, port, metrics_port


def scrape(metrics_port):
    """The console's /metrics as {(name, ((label, value), ...)): value}; every
    line must be a comment or `name{labels} value`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        check(r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4"),
              "the metrics endpoint answers in the Prometheus text format")
        text = r.read().decode()
    check("steward" not in text and "cohort-a" not in text, "the metrics name no user and no dataset")
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP fedc_console_") or line.startswith("# TYPE fedc_console_"):
            continue
        m = re.fullmatch(r'(fedc_console_[a-z_]+)(?:\{(.*)\})? ([0-9.e+]+)', line)
        check(m is not None, f"a metrics line parses: {line!r}")
        labels = tuple(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def check_metrics(metrics_port, db, csv):
    """After all the steps: every counter equals what the audit log recorded."""
    got = scrape(metrics_port)

    def count(action):
        return db.execute("SELECT count(*) FROM console_audit WHERE action = ?", (action,)).fetchone()[0]

    def want(name, value, **labels):
        key = (name, tuple(labels.items()))
        check(got.get(key) == value, f"{name}{labels} is {value} (got {got.get(key)})")

    want("fedc_console_logins_total", count("login"), result="ok")
    want("fedc_console_logins_total", count("login-failed"), result="refused")
    want("fedc_console_logins_total", 0, result="throttled")
    want("fedc_console_csrf_refused_total", count("csrf-refused"))
    check(count("csrf-refused") >= 2, "CSRF refusals of a form and of an upload were counted")
    want("fedc_console_uploads_total", 1)
    want("fedc_console_upload_bytes_total", os.path.getsize(csv))
    want("fedc_console_uploads_refused_total", 4)
    want("fedc_console_datasets_added_total", count("dataset-add") + count("dataset-upload"))
    want("fedc_console_datasets_removed_total", 1)
    want("fedc_console_plan_decisions_total", 1, decision="approve")
    want("fedc_console_plan_decisions_total", 0, decision="reject")
    want("fedc_console_audit_records_total",
         db.execute("SELECT count(*) FROM console_audit WHERE remote != 'command line'").fetchone()[0])
    want("fedc_console_sessions", 0)  # logged out
    want("fedc_console_requests_total", 4, page="dataset_upload", code="4xx")
    want("fedc_console_requests_total", 1, page="dataset_upload", code="2xx")
    check(got[("fedc_console_requests_total", (("page", "login"), ("code", "4xx")))] >= 1,
          "the refused login's 401 is counted")
    check(got[("fedc_console_requests_total", (("page", "plans"), ("code", "2xx")))] >= 1,
          "the plans pages are counted")
    check(got[("fedc_console_requests_total", (("page", "asset"), ("code", "2xx")))] >= 1,
          "the style sheet and script are counted")


def node_db_path(node_config):
    data_dir = None
    for line in open(node_config):
        if line.strip().startswith("data_dir"):
            data_dir = line.split("=", 1)[1].strip()
    if not os.path.isabs(data_dir):
        data_dir = os.path.join(os.path.dirname(node_config), data_dir)
    return os.path.realpath(data_dir)


def main():
    ap = argparse.ArgumentParser()
    for opt in ("bin", "plans", "source", "node-config", "network", "work"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--screenshots")
    args = ap.parse_args()
    shots = args.screenshots
    for exe in (CHROMIUM, CHROMEDRIVER):
        check(os.access(exe, os.X_OK), f"{exe} is installed (apt-get install chromium chromium-driver)")
    work = os.path.join(args.work, "console")
    os.makedirs(work)
    console, port, metrics_port = setup_console(args, work)
    data_dir = node_db_path(args.node_config)
    db = sqlite3.connect(os.path.join(data_dir, "node.db"))

    def audit(action):
        return db.execute("SELECT user, target, detail FROM console_audit WHERE action = ? ORDER BY id",
                          (action,)).fetchall()

    # The researcher's request, as the daemon recorded it.
    pending = db.execute("SELECT name, digest, requested_by, notes FROM training_plans WHERE status = 'pending'"
                         ).fetchall()
    check(len(pending) == 1 and pending[0][0] == "logreg.so" and pending[0][2] == "researcher-1",
          "the researcher's approval request left one pending plan, naming who asked")
    digest = pending[0][1]
    with open(os.path.join(args.plans, "logreg.so"), "rb") as f:
        check(digest == hashlib.sha256(f.read()).hexdigest(), "under the digest of the plan the researcher sent")

    server = subprocess.Popen([console, "--config", args.node_config, "serve"],
                              stderr=open(os.path.join(work, "console.log"), "w"))
    driver_port = free_port()
    chromedriver = subprocess.Popen([CHROMEDRIVER, f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
    wd = None
    try:
        wait_port(port, server, "fedc-node-console")
        wait_port(metrics_port, server, "fedc-node-console's metrics")
        check(scrape(metrics_port)[("fedc_console_audit_records_total", ())] == 0, "no audit record yet")
        wait_port(driver_port, chromedriver, "chromedriver")
        wd = WebDriver(driver_port, os.path.join(work, "chromium-profile"))
        url = f"https://127.0.0.1:{port}"
        steps(args, wd, url, db, audit, digest, data_dir, work, shots, metrics_port)
        check_metrics(metrics_port, db, os.path.join(args.source, "examples", "data", "breast_cancer.csv"))
    finally:
        if wd:
            wd.quit()
        chromedriver.terminate()
        server.terminate()
        chromedriver.wait(10)
        server.wait(10)
        db.close()
    check(server.returncode == 0, "the console stops cleanly on SIGTERM")
    print("PASS")


def shot(wd, shots, name):
    if shots:
        wd.screenshot(os.path.join(shots, name))


def steps(args, wd, url, db, audit, digest, data_dir, work, shots, metrics_port):
    wd.go(url + "/plans")
    check(wd.text("h1") == "Log in", "an anonymous visit is sent to the login page")
    shot(wd, shots, "console-login.png")

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
    check(scrape(metrics_port)[("fedc_console_sessions", ())] == 1, "the metrics count one logged-in session")
    listed = wd.text("#pending")
    check("logreg.so" in listed and digest in listed and "researcher-1" in listed,
          "the pending plan is listed with its name, digest and who asked")
    check("source: examples/logreg/plan.c" in listed and "compiled plan" in listed,
          "with the researcher's description and what was shipped")
    check("read the source shipped with it" in listed, "with a link to the source the researcher shipped")
    shot(wd, shots, "console-plans-pending.png")

    # The source: fetched and checked by the node, kept in its database,
    # shown escaped (plan.c's "#include <math.h>" reads as written).
    kept = db.execute("SELECT bundle IS NOT NULL, refused FROM plan_sources WHERE digest = ?", (digest,)).fetchone()
    check(kept == (1, ""), "the node keeps the source bundle with the pending plan")
    wd.click("a.source-link")
    check(wd.wait_text("h1", "Plan source") == "Plan source", "the link opens the plan's source page")
    page = wd.text("main")
    with open(os.path.join(args.source, "examples/logreg/plan.c")) as f:
        lines = [line.strip() for line in f.read().splitlines() if line.strip()]
    check("plan.c" in page and "#include <math.h>" in page and all(line in page for line in lines),
          "the page shows every line of plan.c as shipped, angle brackets and all")
    check("cannot prove that the compiled plan was built from this source" in page,
          "and says plainly that the node cannot prove the plan was built from it")
    shot(wd, shots, "console-plan-source.png")
    wd.go(url + "/plans")

    note = "reviewed examples/logreg/plan.c at this digest; ok for cohort A"
    wd.type("form.decide input[name=note]", note)
    wd.click("form.decide button.approve")
    check("Plan approved." in wd.wait_text("#message", "Plan approved."), "the page says the plan is approved")
    row = db.execute("SELECT status, notes FROM training_plans WHERE digest = ?", (digest,)).fetchone()
    check(row == ("approved", note), "the node's database has the plan approved with the note")
    check(db.execute("SELECT decision, note, decided_by FROM plan_decisions WHERE digest = ?", (digest,)).fetchall()
          == [("approved", note, "steward")], "the decision is in the history")
    check(audit("plan-approve") == [("steward", digest, note)], "the approval is audited with its note")
    shot(wd, shots, "console-plans-decided.png")
    again = researcher(args, "approval", os.path.join(args.plans, "logreg.so"), "--network", args.network)
    check(again.returncode == 0 and "hospital-a" in again.stdout and "approved" in again.stdout,
          "the researcher, asking again through the broker, is told the plan is approved")

    # Upload: the browser's file picker, a multipart POST.
    csv = os.path.join(args.source, "examples", "data", "breast_cancer.csv")
    wd.go(url + "/datasets")
    wd.type("#up-name", "cohort-a")
    wd.type("#up-tags", "breast-cancer,demo")
    wd.type("#up-description", "uploaded from the steward's desk")
    wd.type("#up-file", csv)
    wd.click("#up-add")
    check("cohort-a" in wd.wait_text("#datasets", "cohort-a"), "the uploaded dataset is listed")
    rows = db.execute("SELECT id, name, path, digest, n_samples FROM datasets").fetchall()
    with open(csv, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    check(len(rows) == 1 and rows[0][1] == "cohort-a" and rows[0][4] == 569 and rows[0][3] == sha,
          "the node's database has it: 569 rows, the digest of the file sent")
    uploaded = rows[0][2]
    check(uploaded.startswith(os.path.join(data_dir, "uploads") + "/") and os.path.isfile(uploaded),
          "its file is in the node's data_dir/uploads")
    ups = audit("dataset-upload")
    check(len(ups) == 1 and ups[0][:2] == ("steward", "cohort-a") and "breast_cancer.csv" in ups[0][2],
          "the upload is audited with the file's name")
    shot(wd, shots, "console-datasets.png")
    wd.click("#datasets a")
    check(sha in wd.wait_text("#dataset", sha), "the dataset page shows its digest")
    check("17.99" in wd.text("#preview"), "and the first rows of the file")
    shot(wd, shots, "console-dataset-show.png")

    # By path: an image folder and NIfTI volumes, with their pictures.
    images = os.path.join(work, "scans")
    make_image_folder(images)
    subprocess.run([os.path.join(args.bin, "fedc-make-volumes"), "--out", os.path.join(work, "volumes"),
                    "--nodes", "1", "--subjects", "6", "--side", "16"], check=True, stdout=subprocess.DEVNULL)
    for name, kind, path, extra in (
            ("scans", "images", images, {}),
            ("volumes", "nifti", os.path.join(work, "volumes", "node0"),
             {"#ds-labels": os.path.join(work, "volumes", "node0-demographics.csv"), "#ds-label-column": "label",
              "#ds-modality": "T1"})):
        wd.go(url + "/datasets")
        wd.type("#ds-name", name)
        wd.type("#ds-tags", "demo")
        wd.s("POST", "/execute/sync", {"script": "document.getElementById('ds-type').value = arguments[0];",
                                       "args": [kind]})
        wd.type("#ds-path", path)
        for css, value in extra.items():
            wd.type(css, value)
        wd.click("#ds-add")
        wd.wait_text("#datasets", name)
        row = db.execute("SELECT type, path FROM datasets WHERE name = ?", (name,)).fetchone()
        check(row == (kind, os.path.realpath(path)), f"the {kind} dataset added by path is in the node's database")
        check(audit("dataset-add")[-1][:2] == ("steward", name), "its registration is audited")
        wd.go(url + "/datasets/show?id=" + name)
        wd.wait_text("#dataset", name)
        decoded = wd.s("POST", "/execute/async", {"script": """
            var done = arguments[0], imgs = Array.prototype.slice.call(document.querySelectorAll('#pictures img'));
            Promise.all(imgs.map(function (i) { return i.decode().then(function () { return i.naturalWidth; },
                                                                       function () { return 0; }); }))
              .then(done);""", "args": []})
        check(len(decoded) == 4 and all(w > 0 for w in decoded),
              f"its page shows {len(decoded)} pictures the browser decodes")
        wd.s("POST", "/execute/sync", {"script": "document.getElementById('pictures').scrollIntoView();", "args": []})
        shot(wd, shots, f"console-dataset-{kind}.png")

    # A round on the uploaded dataset, run by the researcher.
    exp = os.path.join(work, "experiment.ini")
    with open(os.path.join(args.source, "examples", "logreg", "experiment.ini")) as f:
        text = f.read()
    text = text.replace("rounds = 10", "rounds = 1").replace("min_nodes = 2", "min_nodes = 1")
    text = text.replace("plan = logreg.so", "plan = " + os.path.join(args.plans, "logreg.so"))
    with open(exp, "w") as f:
        f.write(text)
    run = researcher(args, "run", exp, "--network", args.network, "--output", os.path.join(work, "out"))
    if run.returncode != 0:
        print(run.stdout[-1500:], run.stderr[-1500:])
    check(run.returncode == 0, "the researcher trains on the uploaded dataset (one round of logreg)")

    # A refused round as the daemon records one (node/job_log.c), with a
    # message holding markup, which must show as text.
    ds_id = db.execute("SELECT id FROM datasets WHERE name = 'cohort-a'").fetchone()[0]
    evil = "<img src=x onerror=\"document.title='owned'\">"
    with db:
        db.execute("INSERT INTO job_rounds (at, job_id, researcher_id, dataset_id, plan_digest, round, kind,"
                   " result, detail, n_samples) VALUES (strftime('%s','now'), 'job-7', 'researcher-1', ?, ?,"
                   " 1, 'train', 'privacy', ?, 0)", (ds_id, digest, evil))
    wd.go(url + "/jobs")
    jobs = wd.text("#jobs")
    # The job's training round and its final evaluation, both ok.
    check("researcher-1" in jobs and "cohort-a" in jobs and "2 of 2" in jobs and "ok" in jobs,
          "the jobs page shows the researcher's rounds on the uploaded dataset")
    check(evil in jobs and wd.s("GET", "/title") != "owned", "a recorded message with markup shows as text")
    shot(wd, shots, "console-jobs.png")

    # A form the page did not make (no csrf field), as a forged cross-site
    # form would be; submitted from the logged-in page.
    wd.go(url + "/datasets")
    wd.script("var f = document.createElement('form'); f.method = 'post'; f.action = '/datasets/remove';"
              "var i = document.createElement('input'); i.name = 'id'; i.value = 'cohort-a';"
              "f.appendChild(i); document.body.appendChild(f); f.submit(); arguments[0]();")
    check("security token" in wd.wait_text("#message", "security token"), "a POST without the CSRF token is refused")
    check(db.execute("SELECT count(*) FROM datasets").fetchone()[0] == 3, "and removes nothing")
    check(len(audit("csrf-refused")) == 1, "the refused POST is audited")

    # Uploads the page did not make, sent with the browser's own session
    # cookie: refused before a byte of the file is written.
    cookie = next(c["value"] for c in wd.s("GET", "/cookie") if c["name"] == "fedc_console")
    uploads = os.path.join(data_dir, "uploads")
    before = sorted(os.listdir(uploads))
    for what, headers, body, status in (
            ("without the token", {"Cookie": "fedc_console=" + cookie}, multipart([("name", "x"), ("tags", "t"),
                                                                                   ("file", "a,b\n1,0\n")]), 403),
            ("with the token after the file", {"Cookie": "fedc_console=" + cookie},
             multipart([("file", "a,b\n1,0\n"), ("csrf", "0" * 64)]), 403),
            ("without a session", {}, multipart([("csrf", "0" * 64), ("file", "a,b\n1,0\n")]), 403),
            ("not as multipart", {"Cookie": "fedc_console=" + cookie, "Content-Type": "text/csv"},
             (None, b"a,b\n1,0\n"), 415)):
        got = post(url + "/datasets/upload", headers, body)
        check(got == status, f"an upload {what} is refused ({got})")
    check(sorted(os.listdir(uploads)) == before, "and writes nothing")

    wd.go(url + "/datasets")
    wd.click("form.remove button")  # the first row, cohort-a; asks for confirmation (console.js)
    wd.s("POST", "/alert/accept", {})
    check("Dataset removed" in wd.wait_text("#message", "Dataset removed"), "a dataset is removed after confirming")
    check(db.execute("SELECT count(*) FROM datasets WHERE name = 'cohort-a'").fetchone()[0] == 0,
          "it is gone from the node's database")
    check(not os.path.exists(uploaded), "and its uploaded file from the node")
    check(audit("dataset-remove") == [("steward", "cohort-a", uploaded)], "the removal is audited")

    wd.go(url + "/audit")
    check("csrf-refused" in wd.text("#audit"), "the audit page shows the refusal")
    shot(wd, shots, "console-audit.png")
    wd.click("#logout")
    wd.wait_text("h1", "Log in")
    check(len(audit("logout")) == 1, "the logout is audited")
    wd.go(url + "/plans")
    check(wd.wait_text("h1", "Log in") == "Log in", "after logout the console asks for a login again")


if __name__ == "__main__":
    main()
