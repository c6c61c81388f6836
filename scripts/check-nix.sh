#!/usr/bin/env bash
# Nix checks that need no nixpkgs: every tracked .nix file parses, and every pure test under
# checks/pure/ evaluates (each is a .nix file that evaluates to true or throws with a message).
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
count=0
while IFS= read -r -d '' f; do
  count=$((count + 1))
  if ! out=$(nix-instantiate --parse "$f" 2>&1 >/dev/null); then
    echo "PARSE FAILED: $f"; echo "$out"; fail=1
  fi
done < <(git ls-files -z '*.nix')
echo "parsed $count .nix files"

passed=0
failed=0
shopt -s nullglob
for t in checks/pure/*.nix; do
  if out=$(nix-instantiate --eval --strict --json "$t" 2>&1) && [ "$out" = "true" ]; then
    passed=$((passed + 1))
  else
    echo "PURE CHECK FAILED: $t"; echo "$out"; failed=$((failed + 1)); fail=1
  fi
done
echo "pure Nix checks: $passed passed, $failed failed"
exit "$fail"
