#!/usr/bin/env bash
# rootfs-hook.sh ROOT: mmdebstrap's extract hook for rootfs.sh, run on the
# host after the packages were extracted into ROOT (no maintainer script
# ran, and ROOT has no shell to run one).
set -euo pipefail
root=$1
uid=10001 # the image's user, batchscore; not root

# What was extracted, one control file a package, for the SBOM and for
# scanners (Trivy and Grype read status.d/, as in distroless images).
debs=("$root"/var/cache/apt/archives/*.deb)
[ -e "${debs[0]}" ] || { echo "rootfs-hook.sh: no .deb under $root/var/cache/apt/archives" >&2; exit 1; }
mkdir -p "$root/var/lib/dpkg/status.d"
for deb in "${debs[@]}"; do
	pkg=$(dpkg-deb --field "$deb" Package)
	{ dpkg-deb --field "$deb"; echo "Status: install ok installed"; } >"$root/var/lib/dpkg/status.d/$pkg"
done

# ca-certificates' postinst builds this bundle (Go reads it).
find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | LC_ALL=C sort -z | xargs -0 cat >"$root/etc/ssl/certs/ca-certificates.crt"
# tzdata's postinst: UTC unless TZ says otherwise.
ln -sfn /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
echo Etc/UTC >"$root/etc/timezone"

# Users: root and batchscore, neither with a shell (there is none).
cat >"$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/usr/sbin/nologin
batchscore:x:$uid:$uid:batchscore:/home/batchscore:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat >"$root/etc/group" <<GROUP
root:x:0:
batchscore:x:$uid:
nogroup:x:65534:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
install -d -m 0700 "$root/root"
install -d -m 0755 -o $uid -g $uid "$root/home/batchscore"
install -d -m 1777 "$root/tmp"
install -d -m 0555 "$root/proc" "$root/sys"

# Not needed at run time: the documentation, but each
# package's copyright file, which its licence asks to keep.
rm -rf "$root"/var/log/apt \
	"$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/lintian \
	"$root"/usr/share/gdb "$root"/usr/share/bash-completion "$root"/usr/share/pixmaps \
	"$root"/etc/hostname "$root"/etc/resolv.conf
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -type l ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
