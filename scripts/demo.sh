#!/usr/bin/env bash
# The main job. Until the full demo exists this prints the host layout the example mappings generate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
node bin/networking-spp.js host build --dry-run --host compute1 \
  --mappings '00:04.0#phys1#2#0xfe,00:05.0#phys2#2#0xfc02' --mirror '2#0x30002' "$@"
