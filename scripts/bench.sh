#!/usr/bin/env bash
# The nix-devbox BENCHMARK (not part of the test run): on a machine set up by
# scripts/setup-debian.sh (run again here; it is idempotent), as root, builds the workspace in
# release mode and runs devbox-bench: create/stop/start/destroy through devbox-ctl against the
# same container done with raw Podman (interleaved), list/status round trips with 7 containers,
# recovery after a daemon restart, the entrypoint's timings and memory, devboxd's memory.
#
#   scripts/bench.sh                          # table on stdout, JSON in bench/results.json
#   scripts/bench.sh --reps 10 --out bench/my-run.json
#   scripts/bench.sh --help                   # every option of devbox-bench
#
# Like the demo, it uses the test kit's testbed image (real devbox-entrypoint and Syncthing,
# FAKE tailscale/code-server/Zed server) and the FAKE `op`: see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh must run as root (rootful Podman, a benchmark Unix user)" >&2
  exit 2
fi
command -v cargo >/dev/null || { echo "bench.sh needs a Rust toolchain (cargo) on PATH" >&2; exit 2; }

bash scripts/setup-debian.sh
cargo build --release --workspace --bins --locked
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/release/devbox-bench" "$@"
