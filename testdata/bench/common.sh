# Sourced by the bench scripts: what every one of them sets up the same way
# (run.sh's header says what each setting means). $0 is the sourcing script.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${BENCH_OUT:-out/bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
ROWS=${BENCH_ROWS:-2000000}
DATE=2026-12-01
TIME=/usr/bin/time
PY=/usr/bin/python3
export BATCHSCORE_ORT_LIB=${BATCHSCORE_ORT_LIB:-$ROOT/third_party/onnxruntime-1.24.1/libonnxruntime.so.1}
