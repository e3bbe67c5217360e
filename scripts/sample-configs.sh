#!/usr/bin/env bash
# Writes the sample configurations into DIR (default: etc/): the agent's and the service's
# from their option registries (networking-spp sample-config), the ML2 driver's with
# oslo-config-generator from the source tree (entry point oslo.config.opts of python/).
# Needs the build (dist/) and Debian's python3-oslo.config.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-etc}
mkdir -p "$out"
node bin/networking-spp.js sample-config agent >"$out/neutron-spp-agent.ini.sample"
node bin/networking-spp.js sample-config server >"$out/networking-spp-server.ini.sample"
PYTHONPATH=python /usr/bin/python3 -m oslo_config.generator \
  --config-file python/etc/oslo-config-generator/ml2_conf_spp.conf \
  --output-file "$out/ml2_conf_spp.ini.sample"
