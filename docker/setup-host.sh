#!/usr/bin/env bash
# Installs and starts what migtd-repro's builds and tests need on a Debian
# host: the Docker engine, debootstrap (builder base images are made from
# Debian's packages because no registry may be reachable), nasm and QEMU.
# Each step is skipped when it is already done. Needs root for apt-get.
set -euo pipefail

packages=()
command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || packages+=(debootstrap)
command -v nasm >/dev/null 2>&1 || packages+=(nasm)
command -v qemu-system-x86_64 >/dev/null 2>&1 || packages+=(qemu-system-x86)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)

if ((${#packages[@]})); then
  echo "setup-host: installing ${packages[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host: apt-get needs root; run: sudo apt-get install -y ${packages[*]}" >&2
    exit 3
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${packages[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

# No engine responds on the default socket, so start one. Without a registry or
# an outside network, builds run with networking off, so the engine needs no
# bridge and must not rewrite the host's firewall.
log=${DOCKERD_LOG:-/tmp/migtd-repro-dockerd.log}
echo "setup-host: starting dockerd (log: $log)" >&2
nohup dockerd --bridge=none --iptables=false --ip6tables=false >"$log" 2>&1 &

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "setup-host: dockerd did not respond on /var/run/docker.sock within 30 s; see $log" >&2
exit 3
