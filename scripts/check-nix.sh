#!/usr/bin/env bash
# Nix checks that need no nixpkgs: every tracked .nix file parses, and every pure test under
# checks/pure/ evaluates (each is a .nix file that evaluates to true or throws with a message).
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs nix-instantiate with the rest of the arguments: the result (stdout) goes to the variable
# named first, stderr to a file that is shown only when the command fails. Warnings on stderr
# (an unconfigured nix.conf, say) can then never be mistaken for a result.
nix_stderr=$(mktemp)
trap 'rm -f "$nix_stderr"' EXIT
nix_eval() {
  local -n result=$1
  shift
  result=$(nix-instantiate "$@" 2>"$nix_stderr")
}
show_stderr() { sed 's/^/  stderr: /' "$nix_stderr"; }

fail=0
count=0
while IFS= read -r -d '' f; do
  count=$((count + 1))
  if ! nix-instantiate --parse "$f" >/dev/null 2>"$nix_stderr"; then
    echo "PARSE FAILED: $f"; show_stderr; fail=1
  fi
done < <(git ls-files -z '*.nix')
echo "parsed $count .nix files"

# Every path literal in a tracked .nix file (flake.nix's outputs, module imports, examples) names a
# file or directory that exists AND is tracked by git: a flake only sees tracked files, so an
# untracked target breaks `nix flake check` on every other machine. `nix-instantiate --parse`
# prints path literals resolved to absolute paths, which is what is scanned here.
root=$(pwd -P)
paths_checked=0
while IFS= read -r -d '' f; do
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    paths_checked=$((paths_checked + 1))
    rel=${p#"$root"}
    rel=${rel#/}
    if [ ! -e "$p" ]; then
      echo "MISSING PATH: $f refers to ./$rel, which does not exist"; fail=1
    elif [ -n "$rel" ] && [ -z "$(git ls-files -- "$rel" | head -n 1)" ]; then
      echo "UNTRACKED PATH: $f refers to ./$rel, which git does not track (flakes would not see it)"; fail=1
    fi
  done < <(nix-instantiate --parse "$f" 2>/dev/null | grep -oE "$root(/[A-Za-z0-9._+-]+)*" | sort -u)
# crates/*/tests/ holds users.nix test cases for the Rust validator, some broken on purpose.
done < <(git ls-files -z '*.nix' ':!:crates/*/tests/**')
echo "checked $paths_checked path references in .nix files"

# The VM tests cannot run here, but their Python test scripts can be compiled.
if command -v python3 >/dev/null 2>&1; then
  nix_eval scripts --eval --strict --json checks/support/vm-test-scripts.nix || {
    echo "VM TEST SCRIPTS DID NOT RENDER:"; show_stderr; fail=1; scripts="{}"
  }
  if ! out=$(printf '%s' "$scripts" | python3 -c '
import json, sys
failed = False
for name, text in sorted(json.load(sys.stdin).items()):
    try:
        compile(text, "checks/vm/" + name + ".nix (testScript)", "exec")
        print("VM test script compiles: " + name)
    except SyntaxError as e:
        print("VM TEST SCRIPT SYNTAX ERROR: %s: %s" % (name, e))
        failed = True
sys.exit(1 if failed else 0)
' 2>&1); then fail=1; fi
  echo "$out"
else
  echo "python3 not found: VM test scripts not compiled"
fi

passed=0
failed=0
shopt -s nullglob
for t in checks/pure/*.nix; do
  out=
  if nix_eval out --eval --strict --json "$t" && [ "$out" = "true" ]; then
    passed=$((passed + 1))
  else
    echo "PURE CHECK FAILED: $t (result: ${out:-none})"; show_stderr; failed=$((failed + 1)); fail=1
  fi
done
echo "pure Nix checks: $passed passed, $failed failed"
exit "$fail"
