#!/usr/bin/env bash
# Installs what the system benchmarks need (benches/configure.rs,
# benches/launch.rs): the local provider's tools, and for the Ansible side
# of `configure` ansible-core (from PyPI, into the python3 that runs
# ansible-playbook) and Debian's python3 with python3-apt, the interpreter
# Ansible's modules run with on the local nodes (they see the host's /usr).
# Idempotent: installs only what is missing.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "the benchmarks launch local nodes, which needs root: run as root" >&2
  exit 1
fi
cd "$(dirname "$0")/.."

# /usr/bin/python3 with the apt bindings (Ansible's apt module), for the nodes.
if [ ! -x /usr/bin/python3 ] || ! /usr/bin/python3 -c 'import apt' 2>/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-apt >/dev/null
fi

# ansible-playbook, on the controller side: any ansible-core will do;
# ansible-core 2.19.14 is the one the README's numbers were taken with.
if ! command -v ansible-playbook >/dev/null && ! python3 -m ansible playbook --version >/dev/null 2>&1; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  fi
  # Debian's own python3 refuses pip installs without this (PEP 668).
  PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 \
    python3 -m pip install --quiet --disable-pip-version-check ansible-core==2.19.14
fi

# The local provider (iproute2, util-linux, OpenSSH, busybox).
scripts/install-local-deps.sh
