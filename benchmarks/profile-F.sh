#!/usr/bin/env bash
# Where the server CPU per message goes under scenario F (4 clients flooding, 2 server processes on one file).
# Samples both server processes' stacks with perf during the 5 s flood (DOTNET_PerfMapEnabled=1 names JIT frames),
# then prints the top symbols, threads and libraries. Usage: benchmarks/profile-F.sh [out-dir] (setup: BENCH_SETUPS,
# default sqlite:2; e.g. BENCH_SETUPS=none:1 for the floor). Needs perf (Debian: apt-get install -y linux-perf).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v perf >/dev/null 2>&1; then
  echo "profile-F.sh: perf is missing (Debian: apt-get install -y linux-perf)" >&2
  exit 2
fi
out=${1:-/tmp/sqlite-backplane-profile}
mkdir -p "$out"
# ReadyToRun off: framework code is JIT-compiled too, so the perf map names it; a long warm-up (invocations per
# client before the measured flood) lets tiered compilation finish first, so the JIT itself is not what is profiled.
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 DOTNET_ReadyToRun=0 BENCH_PERF_OUT="$out"
export BENCH_F_WARMUP=${BENCH_F_WARMUP:-5000}
export BENCH_SETUPS=${BENCH_SETUPS:-sqlite:2}
dotnet build benchmarks/SqliteBackplane.Benchmarks -c Release -nologo -clp:ErrorsOnly >/dev/null
dotnet run -c Release --no-build --project benchmarks/SqliteBackplane.Benchmarks -- F --rounds 1 --out "$out" \
  2> >(grep -E "F \||profiling|perf:|FAILED" >&2)
set +o pipefail # head ends the report pipelines early
for data in "$out"/F-*.perf.data; do
  echo "== $data"
  echo "-- top symbols (self time, % of all samples of both server processes)"
  perf report -i "$data" --no-children -g none --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | sed -E 's/ +$//' | cut -c1-160 | head -40
  echo "-- by thread"
  perf report -i "$data" --no-children -g none --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -12
  echo "-- by library (perf-<pid>.map = JIT-compiled .NET code)"
  perf report -i "$data" --no-children -g none --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -12
done | tee "$out/profile-report.txt"
echo "profile-F.sh: report in $out/profile-report.txt; server CPU us/msg is in the F row of $out/*-F.md" >&2
