#!/usr/bin/env bash
# Test package.debs: the Debian packages (docs/deployment.md).
#   1. cpack builds the six .deb files from BUILD_DIR;
#   2. lintian finds no error in them;
#   3. each package holds what it must: a man page and a bash completion for
#      every program, copyright and changelog, the units, the conffile, the
#      maintainer scripts;
#   4. they are installed with dpkg into a fresh root (in_root.sh: a private
#      copy-on-write root over this machine's, so the real dpkg, dependency
#      checks and maintainer scripts run, and nothing of the machine changes),
#      where `systemd-analyze verify` accepts the units and the installed
#      programs run a federation, the node and the repository started with
#      their units' ExecStart lines as the fedc user, under the units' file
#      system and system-call restrictions.
# Every tool it needs is required: a missing one fails the test, never skips it.
# Usage: package.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 source=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for tool in cpack lintian dpkg dpkg-deb systemd-analyze unshare setpriv mosquitto python3 man openssl curl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/setup.sh installs it)"; exit 1; }
done
((EUID == 0)) || { echo "FAIL: run as root (dpkg and the private root need it)"; exit 1; }
/usr/bin/python3 -c "import seccomp" 2>/dev/null || { echo "FAIL: python3-seccomp is missing"; exit 1; }

dir=$(mktemp -d /tmp/fedc-package.XXXXXX)
chmod 755 "$dir"
finish() {
  local status=$?
  if ((status != 0)); then
    echo "package: failed; logs kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
}
trap finish EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. The packages.
(cd "$build" && cpack -G DEB -B "$dir/debs" >"$dir/cpack.log" 2>&1) || { tail -20 "$dir/cpack.log"; fail "cpack"; }
rm -rf "$dir/debs/_CPack_Packages"
version=$(sed -n 's/^project(fedc VERSION \([0-9.]*\).*/\1/p' "$source/CMakeLists.txt")
packages=(fedc-node fedc-researcher fedc-repository fedc-admin libfedcplan-dev fedc-doc)
for p in "${packages[@]}"; do
  compgen -G "$dir/debs/${p}_${version}_*.deb" >/dev/null || fail "no $p package (${p}_${version}_*.deb)"
done
echo "package: built ${#packages[@]} packages: $(cd "$dir/debs" && echo *.deb)"

# 2. lintian: no errors (warnings are printed).
rc=0
lintian --tag-display-limit 0 "$dir"/debs/*.deb >"$dir/lintian.log" 2>&1 || rc=$?
# 0: nothing to say or warnings, 1: errors; anything else: it did not run.
((rc <= 1)) || { cat "$dir/lintian.log"; fail "lintian did not run (exit $rc)"; }
grep -v "running with root privileges" "$dir/lintian.log" || true
if grep -q "^E: " "$dir/lintian.log"; then
  fail "lintian reports errors"
fi
echo "package: lintian: no errors, $(grep -c "^W: " "$dir/lintian.log" || true) warnings"

# 3. Contents.
# (Listings go through variables: `dpkg-deb ... | grep -q` would fail under
# pipefail whenever grep stops reading before dpkg-deb is done writing.)
deb() { compgen -G "$dir/debs/${1}_${version}_*.deb"; }
files_of() { dpkg-deb -c "$(deb "$1")" | awk '{print $6}' | sed 's|^\./|/|'; }
for p in "${packages[@]}"; do
  list=$(files_of "$p")
  for f in "/usr/share/doc/$p/copyright" "/usr/share/doc/$p/changelog.gz"; do
    grep -qx "$f" <<<"$list" || fail "$p has no $f"
  done
  while read -r prog; do
    [[ -n $prog ]] || continue
    grep -qx "/usr/share/man/man1/$prog.1.gz" <<<"$list" || fail "$p: $prog has no man page"
    grep -qx "/usr/share/bash-completion/completions/$prog" <<<"$list" || fail "$p: $prog has no completion"
  done < <(grep '^/usr/bin/.' <<<"$list" | sed 's|/usr/bin/||' || true)
done
for want in "fedc-node /lib/systemd/system/fedc-node.service" "fedc-node /usr/share/man/man5/fedc-node.ini.5.gz" \
  "fedc-node /lib/systemd/system/fedc-node-console.service" "fedc-node /usr/bin/fedc-node-console" \
  "fedc-repository /lib/systemd/system/fedc-repository.service" "fedc-repository /etc/fedc/repository.ini" \
  "fedc-repository /usr/share/man/man5/fedc-repository.ini.5.gz" \
  "fedc-researcher /usr/share/man/man5/fedc-experiment.ini.5.gz" "fedc-researcher /usr/lib/fedc/plans/logreg.so" \
  "fedc-admin /usr/lib/fedc/fedc_broker_plugin.so" "libfedcplan-dev /usr/lib/libfedcplan.a" \
  "libfedcplan-dev /usr/lib/pkgconfig/fedcplan.pc" "libfedcplan-dev /usr/include/fedc/plan.h" \
  "fedc-doc /usr/share/doc/fedc/deployment.md"; do
  read -r p f <<<"$want"
  grep -qx "$f" <<<"$(files_of "$p")" || fail "$p does not hold $f"
done
grep -qx /etc/fedc/repository.ini <<<"$(dpkg-deb -I "$(deb fedc-repository)" conffiles)" ||
  fail "/etc/fedc/repository.ini is not a conffile"
for p in fedc-node fedc-repository; do
  for s in postinst prerm postrm; do
    dpkg-deb -I "$(deb "$p")" "$s" >/dev/null || fail "$p has no $s"
  done
  [[ $(dpkg-deb -f "$(deb "$p")" Depends) == *adduser* ]] || fail "$p does not depend on adduser"
done
[[ $(dpkg-deb -f "$(deb fedc-node)" Depends) == *libpaho-mqtt* ]] || fail "fedc-node's Depends lack its libraries"
# The libraries fedc-node loads with dlopen() at first use (node/lazy/*.c,
# LAZY_LIB_INIT("soname", "package", ...)) are invisible to dpkg-shlibdeps:
# the Depends line must name each package itself.
node_depends=$(dpkg-deb -f "$(deb fedc-node)" Depends)
lazy_packages=$(sed -n 's/.*LAZY_LIB_INIT("[^"]*", "\([^"]*\)".*/\1/p' "$source"/node/lazy/*.c)
[[ -n $lazy_packages ]] || fail "no LAZY_LIB_INIT found in node/lazy/"
for p in $lazy_packages; do
  grep -Eq "(^|, )$p( |,|$)" <<<"$node_depends" || fail "fedc-node's Depends lack $p, which node/lazy/ loads"
done
man_page=$(dpkg-deb --fsys-tarfile "$(deb fedc-node)" | tar -xO ./usr/share/man/man1/fedc-node.1.gz | gzip -d)
grep -q "dataset add" <<<"$man_page" || fail "fedc-node(1) lacks the dataset commands"
echo "package: contents, man pages, completions, conffiles and maintainer scripts are there"

# 4. Install into a fresh root and run the federation there.
unshare --mount --propagation private "$here/in_root.sh" "$dir" "$source" >"$dir/in_root.log" 2>&1 ||
  { tail -40 "$dir/in_root.log"; fail "the installed packages"; }
cat "$dir/in_root.log"
echo "package: passed"
