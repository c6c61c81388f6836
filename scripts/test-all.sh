#!/usr/bin/env bash
# The ONE command that sets up a fresh Debian machine (as root) and runs the whole test suite:
#   scripts/test-all.sh
# It installs and configures what the tests need (scripts/setup-debian.sh), then runs the Rust
# checks and tests (against real Podman, Syncthing, Unix users and Nix's evaluator) and the Nix checks.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "setup: packages and Podman configuration"
bash scripts/setup-debian.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Nix: parse every file, evaluate the pure checks"
bash scripts/check-nix.sh

step "cargo build --bins (integration tests run the workspace's binaries: fakes, entrypoint, daemon)"
cargo build --workspace --bins --locked

step "cargo test (unit, integration, real Podman)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?

# One closing line for the whole run (cargo's own last line is that of its last, often empty, binary).
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntotal: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
