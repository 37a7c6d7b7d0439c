#!/usr/bin/env bash
# rootfs.sh: prints the path of a minimal Debian 12 root filesystem (a tar)
# for the image and for the tests that run the archive on a clean system,
# building it once per machine into the user's cache.
#
# mmdebstrap extracts libc6, libstdc++6 (ONNX Runtime links it),
# ca-certificates and tzdata, with what they depend on, from the machine's
# configured apt sources; no maintainer script runs, so rootfs-hook.sh does
# what the image needs of theirs (the CA bundle, /etc/localtime), adds the
# users and records each package under /var/lib/dpkg/status.d/ (as
# distroless images do) for the SBOM and for scanners. Timestamps are
# clamped to ROOTFS_EPOCH, so the same packages give the same bytes.
#
# The cache key is everything but the date: this script, the hook, the
# package list, the suite and the apt sources. Debian's point releases
# change the packages behind the same key: `rm` the cached tar (or set
# BATCHSCORE_ROOTFS_REBUILD=1) to take them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

PACKAGES=(libc6 libstdc++6 ca-certificates tzdata)
SUITE=bookworm
ROOTFS_EPOCH=1686355200 # Debian 12.0's release day, 2023-06-10
# The machine's Debian sources (deb822 or one-line); mmdebstrap's defaults
# where it has none.
SOURCES=${BATCHSCORE_APT_SOURCES:-}
if [ -z "$SOURCES" ]; then
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		if [ -s "$f" ]; then SOURCES=$f; break; fi
	done
fi

cache=${BATCHSCORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/batchscore}
key=$( { cat "$here/rootfs.sh" "$here/rootfs-hook.sh"; echo "${PACKAGES[*]} $SUITE $ROOTFS_EPOCH"; [ -z "$SOURCES" ] || cat "$SOURCES"; } | sha256sum | cut -c1-16)
out=$cache/rootfs-$SUITE-$key.tar
if [ -s "$out" ] && [ -z "${BATCHSCORE_ROOTFS_REBUILD:-}" ]; then
	echo "$out"
	exit 0
fi
command -v mmdebstrap >/dev/null || { echo "rootfs.sh: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp "$out.XXXXXX")
trap 'rm -f "$tmp"' EXIT
include=$(IFS=,; echo "${PACKAGES[*]}")
# shellcheck disable=SC2086
SOURCE_DATE_EPOCH=$ROOTFS_EPOCH mmdebstrap --quiet --mode=root --variant=extract --format=tar \
	--include="$include" \
	--extract-hook="\"$here/rootfs-hook.sh\" \"\$1\"" \
	"$SUITE" "$tmp" ${SOURCES:+"$SOURCES"} >&2
chmod 0644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
