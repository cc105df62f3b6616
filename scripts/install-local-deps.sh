#!/usr/bin/env bash
# Installs what the local provider and the shipped templates' recipes need
# on this machine (local nodes see the machine's packages): iproute2,
# util-linux, OpenSSH (server binary and client), busybox (the demo's web
# server and client, the cluster secrets' server), and for the slurm and
# nfs templates SLURM (slurmctld, slurmd, slurm-client), munge and sshfs,
# for the rabbitmq template rabbitmq-server and python3-pika, for the sge
# template Debian's Grid Engine (gridengine-master, -exec, -client);
# for the test clouds' hosts (src/testcloud) Debian's cloud-init, sudo
# (the login user's), and e2fsprogs (their volumes' mkfs).
# No service is started or enabled on this machine. Idempotent: installs
# only what is missing.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "the local provider needs root: run as root" >&2
  exit 1
fi
# Namespaces, a bridge, and an sshd inside each node; SLURM, munge and
# sshfs, which recipes/slurm-*.yaml, munge.yaml and nfs-client.yaml run
# inside the nodes. The host's own sshd, munged, slurmctld and slurmd are
# not wanted: the install must neither start nor enable them (the nodes
# run their own).
# The rabbitmq template: rabbitmq-server on the front-end, python3-pika
# for its client (recipes/rabbitmq-*.yaml). The sge template: Debian's
# Grid Engine (recipes/sge-*.yaml); gridengine-master's postinst makes the
# cell's spool, with debconf's defaults.
packages="openssh-server openssh-client iproute2 util-linux busybox slurmctld slurmd slurm-client munge sshfs cloud-init sudo e2fsprogs rabbitmq-server python3-pika gridengine-master gridengine-exec gridengine-client"
missing=
for p in $packages; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing="$missing $p"
done
if [ -n "$missing" ] || [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v ip >/dev/null ||
  ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null || ! command -v busybox >/dev/null; then
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
  # shellcheck disable=SC2086 # a list of package names
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
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
  # The daemons installed just now: off on this machine.
  for service in munge slurmctld slurmd rabbitmq-server gridengine-master gridengine-exec; do
    case " $missing " in *" $service "*) ;; *) continue ;; esac
    if [ -d /run/systemd/system ]; then systemctl stop "$service.service" >/dev/null 2>&1 || true; fi
    if command -v systemctl >/dev/null; then systemctl disable "$service.service" >/dev/null 2>&1 || true; fi
    update-rc.d "$service" disable >/dev/null 2>&1 || true
  done
fi
