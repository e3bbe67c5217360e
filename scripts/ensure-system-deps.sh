#!/usr/bin/env bash
# Installs the Debian packages the project needs at run or test time, when missing.
# Usage: ensure-system-deps.sh [etcd] [neutron] [release] [pyyaml] [placement] [keystone]
#   neutron: neutron-server, RabbitMQ and the TaaS plugin, for the end-to-end tests.
#   release: what `npm run release` needs to build the driver wheel offline and the
#   driver's sample configuration (pip, setuptools, wheel, oslo.config for Debian's python3).
#   pyyaml: the layout tests derive the original's bytes with PyYAML.
#   placement, keystone: the Placement tests run Debian's placement-api (and a Keystone).
set -euo pipefail

need_etcd=false
need_neutron=false
need_release=false
need_pyyaml=false
need_placement=false
need_keystone=false
for what in "$@"; do
  case "$what" in
    etcd) need_etcd=true ;;
    neutron) need_neutron=true ;;
    release) need_release=true ;;
    pyyaml) need_pyyaml=true ;;
    placement) need_placement=true ;;
    keystone) need_keystone=true ;;
    *) echo "ensure-system-deps: unknown dependency set '$what'" >&2; exit 2 ;;
  esac
done

packages=()
if $need_etcd && ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  packages+=(etcd-server etcd-client)
fi
if $need_neutron; then
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || packages+=(rabbitmq-server)
  [ -x /usr/bin/neutron-server ] || packages+=(neutron-server python3-neutron python3-neutron-lib)
  [ -d /usr/lib/python3/dist-packages/neutron_taas ] || packages+=(python3-neutron-taas)
fi
if $need_release; then
  python_has() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" 2>/dev/null; }
  python_has pip || packages+=(python3-pip)
  python_has setuptools || packages+=(python3-setuptools)
  python_has wheel || packages+=(python3-wheel)
  python_has oslo_config || packages+=(python3-oslo.config)
fi
# The layout tests derive the original's bytes with PyYAML, as its spp-config-build reads YAML.
if $need_pyyaml && ! /usr/bin/python3 -c 'import yaml' >/dev/null 2>&1; then
  packages+=(python3-yaml)
fi
if $need_placement; then
  # placement-api brings uWSGI and its Python 3 plugin, which the lab serves it with.
  [ -x /usr/bin/placement-api ] && [ -x /usr/bin/uwsgi_python3 ] || packages+=(placement-api)
fi
if $need_keystone; then
  # Only the Python package: the lab runs Keystone itself (no system service, no Apache).
  [ -x /usr/bin/keystone-wsgi-public ] || packages+=(python3-keystone)
  [ -x /usr/bin/uwsgi_python3 ] || packages+=(uwsgi-plugin-python3)
fi
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${packages[*]}" >&2
  echo "Install them as root:  apt-get update && apt-get install -y ${packages[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing packages (${packages[*]}) and no apt-get on this machine: install them with your package manager" >&2
  exit 1
fi

echo "Installing Debian packages: ${packages[*]}" >&2
# Keep package scripts from starting system-wide services; the project runs its own.
policy=/usr/sbin/policy-rc.d
created_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  created_policy=true
fi
cleanup() { if $created_policy; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}" >&2
