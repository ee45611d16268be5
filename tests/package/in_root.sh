#!/usr/bin/env bash
# Second half of test package.debs (package.sh runs it in a private mount
# namespace, `unshare --mount`). Usage: in_root.sh TEST_DIR SOURCE_DIR
#
# The fresh root: an overlay whose lower layer is this machine's root and
# whose upper layer is a tmpfs, made the namespace's root with pivot_root
# (not chroot: a chrooted process may not make user namespaces, which the
# node's plan sandbox needs). dpkg installs the packages there for real, with
# its dependency checks against the machine's libraries and the maintainer
# scripts (the fedc user, /var/lib/fedc); every write lands in the tmpfs and
# goes with the namespace. Then, as docs/deployment.md says an operator does:
# fedc-admin provisions a federation, the repository and the node are
# configured in /etc/fedc and started with their units' ExecStart lines as
# the units' user (setpriv: User=fedc, NoNewPrivileges, no capabilities,
# UMask=0077), and the installed researcher runs the installed logreg example
# over that node and a second one.
set -euo pipefail
test_dir=$1 source=$2

if [[ ${FEDC_IN_ROOT:-} != 1 ]]; then
  new=$test_dir/root
  mkdir -p "$new"
  mount -t tmpfs -o mode=0755 fedc-root "$new"
  mkdir -p "$new/upper" "$new/work" "$new/merged"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$new/upper,workdir=$new/work" "$new/merged"
  for d in proc sys dev; do mount --rbind "/$d" "$new/merged/$d"; done
  mount -t tmpfs -o mode=0755 run "$new/merged/run" # no /run/systemd/system: no systemd here
  mount -t tmpfs -o mode=1777 tmp "$new/merged/tmp"
  mkdir -p "$new/merged/srv/test" "$new/merged/srv/source"
  mount --bind "$test_dir/debs" "$new/merged/srv/test"
  mount --bind "$source" "$new/merged/srv/source"
  mount -o remount,bind,ro "$new/merged/srv/source"
  cd "$new/merged"
  mkdir -p .old-root
  pivot_root . .old-root
  umount -l /.old-root
  rmdir /.old-root
  export FEDC_IN_ROOT=1
  exec /srv/source/tests/package/in_root.sh /srv/test /srv/source
fi

fail() { echo "FAIL: $*"; exit 1; }
getent passwd fedc >/dev/null && fail "the fresh root already has a fedc user"

# ---- install ---------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
dpkg -i /srv/test/*.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i"; }
for p in fedc-node fedc-researcher fedc-repository fedc-admin libfedcplan-dev fedc-doc; do
  [[ $(dpkg-query -W -f='${Status}' "$p") == "install ok installed" ]] || fail "$p is not installed"
done
getent passwd fedc >/dev/null || fail "postinst made no fedc user"
[[ $(getent passwd fedc | cut -d: -f7) == */nologin || $(getent passwd fedc | cut -d: -f7) == /bin/false ]] ||
  fail "the fedc user has a login shell"
for d in /var/lib/fedc/node /var/lib/fedc/repository; do
  [[ $(stat -c '%U %a' "$d") == "fedc 700" ]] || fail "$d: $(stat -c '%U %a' "$d"), not fedc 700"
done
echo "install: six packages installed with dpkg; fedc user and /var/lib/fedc made"

# The maintainer scripts again (a reconfigure, an upgrade's configure): no
# error, nothing changed.
before=$(getent passwd fedc; stat -c '%n %U %a' /var/lib/fedc/node /var/lib/fedc/repository)
for p in fedc-node fedc-repository; do
  "/var/lib/dpkg/info/$p.postinst" configure 0.1.0 || fail "$p postinst is not idempotent"
done
[[ $before == "$(getent passwd fedc; stat -c '%n %U %a' /var/lib/fedc/node /var/lib/fedc/repository)" ]] ||
  fail "running postinst again changed the user or the state directories"

# An operator's change to a conffile survives reinstalling the package.
echo "; kept: an operator's line" >>/etc/fedc/repository.ini
dpkg -i /srv/test/fedc-repository_*.deb >>/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i again"; }
grep -q "^; kept: an operator's line" /etc/fedc/repository.ini || fail "reinstalling overwrote /etc/fedc/repository.ini"
echo "install: postinst runs again unchanged; the operator's /etc/fedc/repository.ini is kept on reinstall"

# The installed units, as systemd reads them (their programs in place).
systemd-analyze verify --man=no /lib/systemd/system/fedc-node.service /lib/systemd/system/fedc-node-console.service \
  /lib/systemd/system/fedc-repository.service || fail "systemd-analyze verify"
echo "install: systemd-analyze verify accepts fedc-node.service, fedc-node-console.service and fedc-repository.service"

# Man pages and completions work from the installed paths.
page=$(MANPAGER="cat" man fedc-node.ini 2>/dev/null) || fail "man fedc-node.ini"
grep -q "train_timeout_s" <<<"$page" || fail "man fedc-node.ini lacks [limits] train_timeout_s"
bash -c '. /usr/share/bash-completion/completions/fedc-node; COMP_WORDS=(fedc-node plan ap); COMP_CWORD=2;
  _fedc_node; [[ ${COMPREPLY[*]} == approve ]]' || fail "the fedc-node completion does not complete 'plan ap'"

# ---- a federation of the installed programs --------------------------------
# scripts/lib.sh with the installed programs (build=/usr: /usr/bin/...).
build=/usr
# shellcheck source=scripts/lib.sh
. /srv/source/scripts/lib.sh
stack_init package
# The root goes with the namespace: keep the logs of a failure beside the packages.
trap 'status=$?; ((status == 0)) || cp -r "$dir" /srv/test/in-root-logs 2>/dev/null || true; (exit $status); stack_cleanup' EXIT
provision study researcher >/dev/null
"$build/bin/fedc-admin" add-node "$fed" hospital-a >>"$dir/admin.log"
"$build/bin/fedc-admin" add-node "$fed" hospital-b >>"$dir/admin.log"
start_broker

# A unit's command, run as systemd would run it, for what can be had without
# systemd as PID 1: User= and Group=, NoNewPrivileges=, no capabilities
# (CapabilityBoundingSet=), UMask=, the file system of ProtectSystem=strict
# with ReadWritePaths= (in a mount namespace of its own: everything read-only
# but the state directory), PrivateTmp= and ProtectHome= (empty tmpfs), and
# SystemCallFilter= with SystemCallErrorNumber= (unit_seccomp.py, groups from
# systemd's own tables). Delegate= and the other Protect* settings need
# systemd; `systemd-analyze verify` checks them above.
unit_line() { # unit_line UNIT KEY
  sed -n "s/^$2=//p" "/lib/systemd/system/$1.service"
}
# shellcheck disable=SC2016 # the inner script's variables are its own
unit_exec() { # unit_exec UNIT COMMAND...: in a subshell, execs COMMAND as the unit would
  local unit=$1 user
  user=$(unit_line "$unit" User)
  shift
  umask "$(unit_line "$unit" UMask)"
  # In the ASan build: LeakSanitizer stops the threads with ptrace, which the
  # unit's filter forbids, as it should; the other tests check for leaks.
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
  exec unshare --mount --propagation private bash -c '
    set -e
    rw=$1
    shift
    mount --bind "$rw" "$rw"
    mount -o remount,bind,ro /
    mount -t tmpfs -o mode=1777 private-tmp /tmp
    for d in /home /root /run/user; do
      if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 protect-home "$d"; fi
    done
    exec "$@"' unit-sandbox "$(unit_line "$unit" ReadWritePaths)" \
    setpriv --reuid="$user" --regid="$user" --init-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- \
    /usr/bin/python3 /srv/source/tests/package/unit_seccomp.py "/lib/systemd/system/$unit.service" "$@"
}
as_unit() { (unit_exec "$@"); }
start_unit() { # start_unit UNIT LOG: ExecStart in the background, its pid in $unit_pid
  local -a cmd
  read -r -a cmd <<<"$(unit_line "$1" ExecStart)"
  (unit_exec "$1" "${cmd[@]}") >"$2" 2>&1 &
  unit_pid=$!
  pids+=("$unit_pid")
}
reload_unit() { # reload_unit UNIT PID: ExecReload with $MAINPID
  local line
  line=$(unit_line "$1" ExecReload)
  line=${line//\$MAINPID/$2}
  # shellcheck disable=SC2086 # the unit's words
  $line
}

# The repository (docs/deployment.md): its certificate, key and tokens in
# /etc/fedc/repository/, readable by fedc; /etc/fedc/repository.ini names them.
install -d -m 0750 -g fedc /etc/fedc/repository
install -m 0640 -g fedc "$fed/repository/server.pem" "$fed/repository/server.key" "$fed/repository/tokens" \
  /etc/fedc/repository/
sed -i -e "s|^port = .*|port = $repo_port|" -e "s|^tls_cert_file =.*|tls_cert_file = repository/server.pem|" \
  -e "s|^tls_key_file =.*|tls_key_file = repository/server.key|" \
  -e "s|^tokens_file =.*|tokens_file = repository/tokens|" /etc/fedc/repository.ini
start_unit fedc-repository "$dir/repository.log"
repo_pid=$unit_pid
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$repo_port" || { cat "$dir/repository.log"; fail "the repository did not start"; }
# ExecReload re-reads the tokens (as after fedc-admin add-node).
reload_unit fedc-repository "$repo_pid"
wait_for 10 grep -q "SIGHUP" "$dir/repository.log" || { cat "$dir/repository.log"; fail "ExecReload: no reload logged"; }
[[ $(ps -o user= -p "$repo_pid") == fedc ]] || fail "the repository does not run as fedc"
# The emulation holds: the repository's filter refuses chroot (@privileged),
# its file system refuses a write outside its state directory.
as_unit fedc-repository /usr/sbin/chroot / /bin/true 2>/dev/null && fail "chroot passed fedc-repository's filter"
as_unit fedc-repository /usr/bin/touch /var/lib/fedc/repository/probe || fail "the state directory is not writable"
as_unit fedc-repository /usr/bin/touch /var/lib/fedc/probe 2>/dev/null && fail "a write outside ReadWritePaths passed"
echo "federation: fedc-repository runs as fedc from its unit's ExecStart; ExecReload re-read its tokens"

# Hospital A: the packaged node, its bundle in /etc/fedc/node.
install -d -m 0700 -o fedc -g fedc /etc/fedc/node
cp -r "$fed/nodes/hospital-a/." /etc/fedc/node/
sed -i "s|^data_dir = .*|data_dir = /var/lib/fedc/node|" /etc/fedc/node/node.ini
chown -R fedc:fedc /etc/fedc/node
data=/usr/share/fedc/examples/data/breast_cancer.csv
install -d -m 0755 /srv/data
awk -F, 'NR == 1 { sub(/^[0-9]+/, 250); print; next } NR - 1 <= 250' "$data" >/srv/data/a.csv
awk -F, 'NR == 1 { sub(/^[0-9]+/, 319); print; next } NR - 1 > 250' "$data" >/srv/data/b.csv
chmod 0644 /srv/data/*.csv
as_unit fedc-node fedc-node --config /etc/fedc/node/node.ini dataset add --name bc-a --tags breast-cancer \
  --file /srv/data/a.csv >"$dir/admin-a.log" 2>&1 || { cat "$dir/admin-a.log"; fail "dataset add as fedc"; }
as_unit fedc-node fedc-node --config /etc/fedc/node/node.ini plan approve /usr/lib/fedc/plans/logreg.so \
  --name logreg >>"$dir/admin-a.log" 2>&1 || { cat "$dir/admin-a.log"; fail "plan approve as fedc"; }
start_unit fedc-node "$dir/hospital-a.log"
node_pid=$unit_pid

# Hospital B: a node run from its bundle, as the install test does.
node_b=$(node_config hospital-b)
"$build/bin/fedc-node" --config "$node_b" dataset add --name bc-b --tags breast-cancer --file /srv/data/b.csv >/dev/null
"$build/bin/fedc-node" --config "$node_b" plan approve /usr/lib/fedc/plans/logreg.so --name logreg >/dev/null
node_start hospital-b
# The broker and the repository learn the new participants.
install -m 0640 -g fedc "$fed/repository/tokens" /etc/fedc/repository/tokens
reload_unit fedc-repository "$repo_pid"
kill -HUP "$broker_pid"
wait_nodes hospital-a hospital-b || { tail "$dir"/hospital-*.log; fail "the nodes did not start"; }
[[ $(ps -o user= -p "$node_pid") == fedc ]] || fail "the node does not run as fedc"
# ExecReload: the node reads the researchers' keys again.
reload_unit fedc-node "$node_pid"
wait_for 10 grep -q "SIGHUP: trusted keys reloaded" "$dir/hospital-a.log" || { cat "$dir/hospital-a.log"; fail "node ExecReload"; }
grep -q "sandbox: plans run in their own user, mount, IPC, PID and network namespaces" "$dir/hospital-a.log" ||
  { cat "$dir/hospital-a.log"; fail "under its unit's settings the node cannot confine its plans"; }
echo "federation: fedc-node runs as fedc from its unit's ExecStart; its plans get their namespaces"

write_network "$dir/network.ini"
# The demo's experiment (scripts/demo.sh: examples/logreg, 10 rounds of
# logistic regression), as the package installed it, unchanged: its plan,
# logreg.so, is found in /usr/lib/fedc/plans/.
"$build/bin/fedc-researcher" run /usr/share/fedc/examples/logreg/experiment.ini --network "$dir/network.ini" --output "$dir/out" \
  >"$dir/run.log" 2>&1 || { cat "$dir/run.log" "$dir/hospital-a.log"; fail "the installed researcher's experiment"; }
[[ -f $dir/out/global.params ]] || { cat "$dir/run.log"; fail "no global.params"; }
grep -q "hospital-a" "$dir/run.log" || { cat "$dir/run.log"; fail "hospital-a took no part"; }
grep -q "round *10/10 *nodes 2/2" "$dir/run.log" || { cat "$dir/run.log"; fail "the demo's 10 rounds did not all run on both nodes"; }
tail -2 "$dir/run.log"
echo "federation: the installed fedc-researcher ran the demo's experiment (examples/logreg, 10 rounds) over the packaged node and another"

# The console beside the packaged node, from its unit's ExecStart: an account
# made as fedc, then the login page over HTTPS (the repository's certificate,
# made for 127.0.0.1, stands in for the hospital's).
console_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
install -m 0640 -g fedc "$fed/repository/server.pem" /etc/fedc/node/console.pem
install -m 0640 -g fedc "$fed/repository/server.key" /etc/fedc/node/console.key
printf '\n[console]\nport = %s\ntls_cert_file = console.pem\ntls_key_file = console.key\n' "$console_port" \
  >>/etc/fedc/node/node.ini
printf '%s\n' 'correct horse battery staple' | as_unit fedc-node-console fedc-node-console \
  --config /etc/fedc/node/node.ini user add steward >"$dir/console-admin.log" 2>&1 ||
  { cat "$dir/console-admin.log"; fail "console user add as fedc"; }
start_unit fedc-node-console "$dir/console.log"
console_pid=$unit_pid
wait_for 10 curl -ksf -m 2 -o /dev/null "https://127.0.0.1:$console_port/login" ||
  { cat "$dir/console.log"; fail "the console did not serve its login page under its unit's settings"; }
[[ $(ps -o user= -p "$console_pid") == fedc ]] || fail "the console does not run as fedc"
curl -ks -m 5 "https://127.0.0.1:$console_port/login" | grep -q 'name="csrf"' || fail "the console's login page has no CSRF token"
as_unit fedc-node-console /usr/sbin/chroot / /bin/true 2>/dev/null && fail "chroot passed fedc-node-console's filter"
# A CSV file uploaded as the steward's browser would: under the unit's file
# system it lands in the state directory and is registered in the node's database.
jar=$dir/console.jar console_url=https://127.0.0.1:$console_port
csrf_of() { curl -ks -b "$jar" -c "$jar" "$console_url/$1" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1; }
curl -ks -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$(csrf_of login)" --data-urlencode user=steward \
  --data-urlencode 'password=correct horse battery staple' "$console_url/login"
curl -ks -b "$jar" -c "$jar" -F "csrf=$(csrf_of datasets)" -F name=bc-uploaded -F tags=breast-cancer \
  -F "file=@/srv/data/b.csv" "$console_url/datasets/upload" >"$dir/upload.html"
uploaded=$(python3 -c 'import sqlite3, sys; r = sqlite3.connect(sys.argv[1]).execute("SELECT path FROM datasets WHERE name = ?", ("bc-uploaded",)).fetchone(); print(r[0] if r else "")' /var/lib/fedc/node/node.db)
[[ $uploaded == /var/lib/fedc/node/uploads/upload-*.csv && $(stat -c '%U %a' "$uploaded") == "fedc 640" ]] ||
  { cat "$dir/console.log" "$dir/upload.html"; fail "a CSV uploaded to the console is not registered from the state directory ($uploaded)"; }
cmp -s "$uploaded" /srv/data/b.csv || fail "the uploaded file differs from the one sent"
# ExecReload with a renewed certificate (another key and serial): served
# from then on, by the same process.
serial() { openssl s_client -connect "127.0.0.1:$console_port" </dev/null 2>/dev/null | openssl x509 -noout -serial; }
before=$(serial)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/renewed.key" -out "$dir/renewed.pem" -days 2 \
  -subj /CN=127.0.0.1 2>/dev/null
install -m 0640 -g fedc "$dir/renewed.pem" /etc/fedc/node/console.pem
install -m 0640 -g fedc "$dir/renewed.key" /etc/fedc/node/console.key
reload_unit fedc-node-console "$console_pid"
wait_for 10 grep -q "SIGHUP: certificate .* reloaded" "$dir/console.log" || { cat "$dir/console.log"; fail "console ExecReload"; }
after=$(serial)
[[ -n $after && $after != "$before" && $after == "$(openssl x509 -noout -serial -in "$dir/renewed.pem")" ]] ||
  fail "after ExecReload the console does not serve the renewed certificate ($before, $after)"
kill -0 "$console_pid" || fail "the console stopped on ExecReload"
kill "$console_pid"
echo "federation: fedc-node-console runs as fedc from its unit's ExecStart, serves its login page, registers an uploaded CSV file from the state directory, and its ExecReload takes a renewed certificate"

# The researcher's plan SDK from libfedcplan-dev compiles a plan.
# shellcheck disable=SC2046 # pkg-config's words
cc -std=c11 -shared -fPIC /usr/share/fedc/examples/linreg/plan.c $(pkg-config --cflags --libs fedcplan) \
  -o "$dir/linreg.so" || fail "a plan does not compile against libfedcplan-dev"
echo "install: a plan compiles against libfedcplan-dev's fedcplan.pc"

# Removal: purge runs prerm and postrm, takes the files and keeps the state
# (docs/deployment.md, "Upgrading and removing").
dpkg --purge fedc-node >>/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg --purge fedc-node"; }
[[ ! -e /usr/bin/fedc-node && ! -e /lib/systemd/system/fedc-node.service ]] || fail "purge left fedc-node's files"
[[ -f /var/lib/fedc/node/node.db ]] || fail "purge took the node's database"
echo "install: dpkg --purge fedc-node removes its files and keeps /var/lib/fedc/node"
