#!/usr/bin/env bash
# Unit tests of the Python ML2 driver, under the Python neutron-server runs on (Debian's
# /usr/bin/python3 with python3-neutron-lib, installed by scripts/ensure-system-deps.sh neutron).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${SPP_ML2_PYTHON:-/usr/bin/python3}
if [ ! -x "$python" ]; then
  echo "python/run-tests.sh: $python not found; the ML2 driver tests need Debian's python3" >&2
  echo "  (run: bash scripts/ensure-system-deps.sh neutron)" >&2
  exit 1
fi
if ! "$python" -c 'import neutron_lib, oslo_config, oslo_log' 2>/dev/null; then
  echo "python/run-tests.sh: $python cannot import neutron_lib/oslo_config/oslo_log;" >&2
  echo "  install Debian's python3-neutron-lib (run: bash scripts/ensure-system-deps.sh neutron)" >&2
  exit 1
fi
echo "== python ML2 driver tests ($python)" >&2
exec "$python" -m unittest discover -s python/tests -t python "$@"
