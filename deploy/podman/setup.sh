#!/usr/bin/env bash
# Makes this machine able to build and run Flywheel's image with podman (as root): builds the local
# Node base image (base-image.sh, cached by name), then, only if podman cannot run a container from it
# yet, writes /etc/containers/containers.conf with the two settings our machines need:
#   - runtime runc: Debian's crun 1.8 refuses the hybrid cgroup v1/v2 layout of these machines;
#   - default ulimits a root without CAP_SYS_RESOURCE may set (podman's defaults raise nofile/nproc).
# An existing containers.conf is never overwritten: the script then says what to add and fails.
#
#   bash deploy/podman/setup.sh [base-image-name]
set -euo pipefail
cd "$(dirname "$0")"

base="${1:-localhost/node:20-bookworm}"
conf=/etc/containers/containers.conf

bash ./base-image.sh "$base"

can_run() { podman run --rm --network none "$base" true 2>"$1"; }

err="$(mktemp)"
trap 'rm -f "$err"' EXIT
if can_run "$err"; then
  echo "setup: podman runs containers"
  exit 0
fi
echo "setup: podman cannot run a container yet: $(tail -n 1 "$err")"

settings='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"'
if [ -e "$conf" ]; then
  printf 'setup: %s exists; add these settings to it by hand:\n%s\n' "$conf" "$settings" >&2
  exit 1
fi
mkdir -p "$(dirname "$conf")"
printf '# Written by Flywheel deploy/podman/setup.sh: runc and ulimits a root without\n# CAP_SYS_RESOURCE may set.\n%s\n' "$settings" >"$conf"
echo "setup: wrote $conf"
if ! can_run "$err"; then
  echo "setup: podman still cannot run a container: $(cat "$err")" >&2
  exit 1
fi
echo "setup: podman runs containers"
