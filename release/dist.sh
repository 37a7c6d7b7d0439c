#!/usr/bin/env bash
# dist.sh: the release archive, dist/batchscore-<version>-linux-amd64.tar.gz,
# and its .sha256 (make dist). The archive holds the binary, ONNX Runtime's
# library next to it (where the binary looks first), LICENSE,
# THIRD_PARTY_NOTICES generated for this very binary, README.md, and
# examples/ (job.yaml, whose paths are relative to it, a model, a baseline
# and two nights' snapshots), so that
#   ./batchscore run examples/job.yaml --date 2026-11-20
# works right after unpacking.
#
# Reproducible: the same commit gives the same bytes. The binary is built
# with -trimpath and without VCS stamping (the version and commit come in
# through -ldflags), and the archive has sorted entries, owner 0, fixed
# modes, every mtime SOURCE_DATE_EPOCH (the commit's time) and a gzip
# header without a name or time.
#
# Environment (the Makefile sets them): VERSION, COMMIT, SOURCE_DATE_EPOCH,
# ORT_LIB (libonnxruntime.so.1), ORT_NPM (the onnxruntime-node tarball it
# came from), ORT_VERSION, OUT (default dist), GO (default go).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${VERSION:?}" "${COMMIT:?}" "${SOURCE_DATE_EPOCH:?}" "${ORT_LIB:?}" "${ORT_NPM:?}" "${ORT_VERSION:?}"
OUT=${OUT:-dist}
GO=${GO:-go}
name=batchscore-$VERSION-linux-amd64

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
d=$stage/$name
mkdir -p "$d/examples/models" "$d/examples/baseline" "$d/examples/snapshots/customers"

CGO_ENABLED=1 GOOS=linux GOARCH=amd64 "$GO" build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" \
	-o "$d/batchscore" ./cmd/batchscore
install -m 0644 "$ORT_LIB" "$d/libonnxruntime.so"
(cd release && "$GO" run ./cmd/notices -bin "$d/batchscore" -ort-npm "$ORT_NPM" \
	-ort-license licenses/onnxruntime-LICENSE -kept licenses/modules -o "$d/THIRD_PARTY_NOTICES")
install -m 0644 LICENSE README.md "$d/"
install -m 0644 release/examples/job.yaml "$d/examples/job.yaml"
install -m 0644 testdata/models/churn_gbm.onnx "$d/examples/models/"
install -m 0644 testdata/baseline/churn_training.json "$d/examples/baseline/"
for date in 2026-11-19 2026-11-20; do
	cp -r "testdata/customers/snapshot_date=$date" "$d/examples/snapshots/customers/"
done
chmod -R u=rwX,go=rX "$d"
chmod 0755 "$d/batchscore"

mkdir -p "$OUT"
tar --sort=name --format=gnu --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
	-C "$stage" -cf - "$name" | gzip -n >"$OUT/$name.tar.gz.tmp"
mv "$OUT/$name.tar.gz.tmp" "$OUT/$name.tar.gz"
(cd "$OUT" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "$OUT/$name.tar.gz"
cat "$OUT/$name.tar.gz.sha256"
