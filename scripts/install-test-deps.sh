#!/usr/bin/env bash
# Installs what the test suite needs that cargo does not fetch itself:
# the reference implementations the differential tests compare against,
# and OpenSSH's server for the SSH tests.
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

# The SSH tests start OpenSSH's server themselves (/usr/sbin/sshd on a free
# loopback port, as root). Install it if missing without letting the
# package start its system service, which must not run on port 22.
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null; then
  added_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # Debian's way to tell a package's install not to start its daemon.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
  if [ -n "$added_policy" ]; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi
# Keep the system sshd disabled (no-op when it already is)...
if command -v systemctl >/dev/null && systemctl is-enabled --quiet ssh 2>/dev/null; then
  systemctl disable --quiet ssh 2>/dev/null || true
fi
# ...and stopped: a packaged sshd (default config, no -f) listening on 22.
if command -v ss >/dev/null; then
  for pid in $(ss -Hltnp 'sport = :22' 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q '^sshd: /usr/sbin/sshd\|^/usr/sbin/sshd' &&
      ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q ' -f '; then
      kill "$pid"
    fi
  done
fi
