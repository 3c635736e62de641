#!/usr/bin/env bash
# Runs the whole benchmark suite on this machine and writes markdown tables to bench/results/:
#   bench/run.sh            BenchmarkDotNet (short job) for every class, then the driver (~20 min on 2 cores)
#   bench/run.sh --dry      every benchmark once plus the driver with tiny counts (CI; well under 2 min)
# FILTER='*Inline*' bench/run.sh runs a subset of the BenchmarkDotNet classes (the driver always runs).
set -euo pipefail

bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$bench")"
results="$bench/results"
artifacts="$root/artifacts/bench"
dll="$bench/Busbar.Benchmarks/bin/Release/net10.0/Busbar.Benchmarks.dll"

cd "$root"
dotnet build "$bench/Busbar.Benchmarks/Busbar.Benchmarks.csproj" -c Release --nologo -v quiet

if [[ "${1:-}" == "--dry" ]]; then
    exec dotnet "$dll" --dry
fi

rm -rf "$artifacts"
dotnet "$dll" --filter "${FILTER:-*}" --artifacts "$artifacts"

mkdir -p "$results"
for report in "$artifacts"/results/*-report-github.md; do
    name="$(basename "$report" -report-github.md)"
    # BenchmarkDotNet quotes descriptions that contain spaces and HTML-escapes the quotes.
    sed -e "s/&#39;//g" "$report" > "$results/${name##*.}.md"
done

dotnet "$dll" driver --out "$results/driver.md"
echo "results written to $results"
