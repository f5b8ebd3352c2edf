#!/bin/sh
# Installs the Debian packages nodeherd needs to build, test and run its demo.
# Idempotent; uses sudo when not root. Set NH_SKIP_DEPS=1 to skip.
# debhelper, lintian, mmdebstrap: the packaging tests (build the .deb, lint
# it, assemble the container root); about 30 s more on a fresh machine.
# chromium: the status page test renders the page headless (tests/visibility).
# openssl: the kube tests make a throwaway CA and certificates at run time.
# prometheus: its promtool checks contrib/prometheus/alerts.yaml and runs the
# alert tests (ops.metric_references); the server it also installs is not used.
set -eu
[ "${NH_SKIP_DEPS:-0}" = 1 ] && exit 0

PKGS="build-essential cmake pkg-config git python3 clang clang-format etcd-server etcd-client
libuv1-dev libcurl4-openssl-dev libyaml-dev libjson-c-dev libsystemd-dev
libssl-dev libmicrohttpd-dev libcmocka-dev libclang-rt-14-dev
systemd curl ca-certificates openssl
debhelper lintian mmdebstrap
chromium prometheus"
[ -n "${NH_EXTRA_PKGS:-}" ] && PKGS="$PKGS $NH_EXTRA_PKGS"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
