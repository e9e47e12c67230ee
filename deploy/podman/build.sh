#!/usr/bin/env bash
# Builds Flywheel's image with podman on the local Node base (deploy/podman/base-image.sh), for
# machines that reach the npm registry but no remote image registry.
#
#   bash deploy/podman/build.sh [image-name]     (default localhost/flywheel:dev)
#   NODE_IMAGE=... to build on another base.
#
# npm inside the build must trust the same certificate authorities as this host (a proxy may
# re-sign the registry's certificate): a temporary folder holding a copy of the host's CA bundle and
# an npmrc naming it is mounted at /usr/local/etc, where npm reads its global config, for the build's
# RUN steps only. A build-time mount is no layer, so nothing of it ends up in the image.
set -euo pipefail
cd "$(dirname "$0")/../.."

image="${1:-localhost/flywheel:dev}"
node_image="${NODE_IMAGE:-localhost/node:20-bookworm}"

bundle=""
for candidate in "${NODE_EXTRA_CA_CERTS:-}" "$(npm config get cafile 2>/dev/null || true)" \
  /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -n "$candidate" ] && [ "$candidate" != null ] && [ -f "$candidate" ]; then
    bundle="$candidate"
    break
  fi
done

etc="$(mktemp -d)"
trap 'rm -rf "$etc"' EXIT
mounts=()
if [ -n "$bundle" ]; then
  cp "$bundle" "$etc/ca-bundle.crt"
  printf 'cafile=/usr/local/etc/ca-bundle.crt\nupdate-notifier=false\nfund=false\naudit=false\n' >"$etc/npmrc"
  chmod -R a+rX "$etc"
  mounts=(-v "$etc:/usr/local/etc:ro")
fi

version="$(node -p 'require("./package.json").version')"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
source="$(git config --get remote.origin.url 2>/dev/null || echo unknown)"

started=$SECONDS
podman build --quiet \
  "${mounts[@]}" \
  --build-arg "NODE_IMAGE=$node_image" \
  --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" \
  --build-arg "SOURCE=$source" \
  -f deploy/Dockerfile -t "$image" . >/dev/null
echo "build: $image on $node_image ($version, $revision) in $((SECONDS - started)) s"
