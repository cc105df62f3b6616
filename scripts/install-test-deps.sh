#!/usr/bin/env bash
# Installs what the test suite needs that cargo does not fetch itself:
# the reference implementations the differential tests compare against.
# Idempotent: installs only what is missing.
set -euo pipefail

need_pip() { # package==version
  local name=${1%%==*} version=${1##*==}
  python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$name') != '$version')" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check "$1"
}

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip >/dev/null
fi
export PIP_ROOT_USER_ACTION=ignore
need_pip radl==1.3.5

# The local provider's tests (tests/it/local_host.rs): namespaces, a bridge,
# and an sshd inside each node. The host's own sshd is not wanted: the
# install must neither start it nor enable it (the tests never use it).
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v ip >/dev/null ||
  ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null; then
  policy=/usr/sbin/policy-rc.d added_policy=
  if [ ! -e "$policy" ]; then # tells maintainer scripts not to start services
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  new_sshd=
  if [ ! -x /usr/sbin/sshd ]; then
    new_sshd=1
    mkdir -p /etc/ssh && touch /etc/ssh/sshd_not_to_be_run # Debian's off switch
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client iproute2 util-linux >/dev/null
  if [ -n "$added_policy" ]; then rm -f "$policy" && trap - EXIT; fi
  if [ -n "$new_sshd" ]; then
    if [ -d /run/systemd/system ]; then
      systemctl stop ssh.service ssh.socket >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null; then # works without a running systemd too
      systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
    fi
    update-rc.d ssh disable >/dev/null 2>&1 || true
    if [ -f /run/sshd.pid ] && kill -0 "$(cat /run/sshd.pid)" 2>/dev/null; then
      kill "$(cat /run/sshd.pid)"
    fi
  fi
fi
