#!/usr/bin/env bash
# The project's whole test suite: dependencies, lint, format, type check, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh etcd neutron release pyyaml placement keystone
bash scripts/ensure-node-deps.sh
echo "== lint and format" >&2
npx eslint . >&2
npx prettier --check . >&2
bash python/run-tests.sh
echo "== tests" >&2
node --test --test-reporter=spec --test-timeout=300000 dist/test/
