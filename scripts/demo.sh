#!/usr/bin/env bash
# The main job (`npm start`): installs what the demo needs (etcd, the npm packages, the
# build), then runs `networking-spp demo`: a private etcd, two emulated compute hosts with
# real agents, the binding service, ports bound through its API and frames sent through SPP.
# Extra arguments go to the demo, e.g. `npm start -- --keep-running`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh etcd
bash scripts/ensure-node-deps.sh
exec node bin/networking-spp.js demo "$@"
