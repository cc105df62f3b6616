#!/usr/bin/env bash
# Installs what the test suite needs that cargo does not fetch itself:
# the reference implementations the differential tests compare against.
# Idempotent: installs only what is missing.
set -euo pipefail

need_pip() { # package[extras]==version
  local name=${1%%==*} version=${1##*==}
  name=${name%%\[*}
  python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$name') != '$version')" 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check "$1"
}

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip >/dev/null
fi
export PIP_ROOT_USER_ACTION=ignore
need_pip radl==1.3.5
# TOSCA: the reference validator, and IM (with its many dependencies,
# ansible among them) whose to_radl() the lowering test compares against.
need_pip tosca-parser==2.15.0
need_pip im==2.0.0
# IM's own REST client, driven unmodified against `nubo serve`
# (tests/it/serve.rs).
need_pip im-client==1.8.4
# EC3's command line, driven unmodified against `nubo serve` on the local
# provider (tests/it/serve.rs, ec3_drives_nubo_serve_on_the_local_provider).
need_pip ec3-cli==2.2.1
# tosca-parser's own test data (its sdist's samples/tests/data), which the
# conformance test (tests/it/tosca_conformance.rs) reads from here; never
# copied into the repository.
data=${NUBO_TEST_DATA:-/var/tmp/nubo-test-data}
if [ ! -d "$data/tosca_parser-2.15.0/samples/tests/data" ]; then
  mkdir -p "$data"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: tosca-parser==2.15.0 -d "$data"
  tar -xzf "$data/tosca_parser-2.15.0.tar.gz" -C "$data"
fi
# Ansible: the ansible-core nubo installs into its data directory when
# PATH has none (src/ops/ansible_install.rs, PINNED), with its
# dependencies, as wheels for this python3; tests/it/ansible_install.rs
# installs from here with PIP_NO_INDEX=1, never from the Internet.
if [ ! -f "$data/wheels/.ansible-core-2.19.14" ]; then
  mkdir -p "$data/wheels"
  python3 -m pip download --quiet --disable-pip-version-check \
    --dest "$data/wheels" ansible-core==2.19.14
  touch "$data/wheels/.ansible-core-2.19.14"
fi
# EC2: moto's standalone server, which tests/it/ec2.rs starts on
# 127.0.0.1 (moto_server must run under the python3 pip installed it for).
need_pip 'moto[server]==5.2.1'
python3 -c 'import flask, flask_cors' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1'
if ! command -v moto_server >/dev/null && command -v pyenv >/dev/null; then
  pyenv rehash
fi
moto_server --help >/dev/null

# The elasticity daemon's SQS and Kubernetes tests (tests/it/elastic_queues.rs):
# the workers' consumers run Debian's /usr/bin/python3 (a local node has its
# own /root, so a python3 under /root, as pyenv's, is not seen there) and
# the stand-in kubelets run curl.
if [ ! -x /usr/bin/python3 ] || ! command -v curl >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 curl >/dev/null
fi

# Recipes from git (tests/it/recipe_git.rs): git, with its `git daemon`.
if ! command -v git >/dev/null || [ ! -x "$(git --exec-path)/git-daemon" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null
fi

# The local provider and the shipped templates' recipes (tests/it/local_host.rs,
# tests/it/launch.rs, tests/it/slurm_cluster.rs).
"$(dirname "$0")/install-local-deps.sh"
