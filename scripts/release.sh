#!/usr/bin/env bash
# `npm run release [-- [--skip-build] DIR]`: builds the release bundle in DIR (default: release/, which git
# ignores): a directory networking-spp-<version>/ and its tarball networking-spp-<version>.tar.gz,
# holding
#   networking-spp-<version>.tgz                 the npm package with its runtime dependencies
#                                                bundled (bundleDependencies), in the versions
#                                                of package-lock.json (install: INSTALL.md)
#   networking_spp_ml2-<version>-py3-none-any.whl  the ML2 driver, built offline
#   systemd/*.service                            the hardened units
#   etc/*.ini.sample                             sample configurations: agent, service, driver
#   INSTALL.md, SHA256SUMS
# Needs the dev checkout (npm ci is run when needed) and Debian's python3-pip,
# python3-setuptools, python3-wheel and python3-oslo.config (ensure-system-deps.sh release).
# --skip-build packs dist/ as it is (the bundle test, which runs from that build).
set -euo pipefail
build=true
if [ "${1:-}" = --skip-build ]; then
  build=false
  shift
fi
out=$(realpath -m "${1:-$(dirname "$0")/../release}")
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh release
if $build; then bash scripts/ensure-node-deps.sh; fi

version=$(node -p 'require("./package.json").version')
name="networking-spp-$version"
bundle="$out/$name"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
rm -rf "$bundle" "$bundle.tar.gz"
mkdir -p "$bundle/systemd" "$bundle/etc"

echo "== npm package" >&2
# Packed from a copy holding only the runtime dependencies (npm ci --omit=dev from the
# lockfile), which bundleDependencies puts into the tarball: the production install gets
# exactly the tested versions and needs no registry. `files` decides what else goes in.
mkdir "$stage/npm"
git ls-files -z --cached --others --exclude-standard -- package.json package-lock.json \
  README.md LICENSE CHANGELOG.md bin python deploy etc docs |
  xargs -0 cp --parents -t "$stage/npm"
cp --parents -r dist/src "$stage/npm"
(cd "$stage/npm" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent &&
  npm pack --ignore-scripts --silent --pack-destination "$bundle" >/dev/null)

echo "== ML2 driver wheel (offline)" >&2
cp -r python "$stage/python"
/usr/bin/python3 -m pip wheel --quiet --no-deps --no-build-isolation --no-index \
  --wheel-dir "$bundle" "$stage/python"

echo "== systemd units, sample configurations, install guide" >&2
cp deploy/systemd/*.service "$bundle/systemd/"
bash scripts/sample-configs.sh "$bundle/etc"
cp docs/install.md "$bundle/INSTALL.md"
(cd "$bundle" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort |
  xargs sha256sum >SHA256SUMS)

# Reproducible tarball: sorted, owned by root, files dated by the last commit.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
tar -C "$out" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  -czf "$bundle.tar.gz" "$name"
echo "$bundle.tar.gz"
(cd "$bundle" && find . -type f -printf '  %P\n' | LC_ALL=C sort) >&2
