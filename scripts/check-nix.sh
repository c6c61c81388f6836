#!/usr/bin/env bash
# Nix checks that need no nixpkgs and no store builds:
#   - every tracked .nix file parses, every path literal names a tracked file;
#   - flake.lock is accepted by Nix offline, and the pinned upstream source trees (if present)
#     are exactly the locked inputs (each hashes to its lock entry's narHash);
#   - the pure checks (checks/pure/*.nix) evaluate to true on the REAL nixpkgs lib, our modules
#     evaluated together with the real home-manager, nix-darwin and NixOS-WSL modules;
#   - the VM tests' Python scripts render and compile.
#
# The pinned trees come from DEVBOX_NIX_UPSTREAM (default: ../shared/nix/upstream next to the
# repository, when it exists), laid out as
#   nixpkgs-lib/lib  nixpkgs-modules-misc/  home-manager/  nix-darwin/  nixos-wsl/
# Without them (or with DEVBOX_NIX_UPSTREAM=none), every check that needs them is reported
# SKIPPED with a count (never as passed).
set -euo pipefail
cd "$(dirname "$0")/.."

# Runs nix-instantiate with the rest of the arguments: the result (stdout) goes to the variable
# named first, stderr to a file that is shown only when the command fails. Warnings on stderr
# (an unconfigured nix.conf, say) can then never be mistaken for a result.
nix_stderr=$(mktemp)
nixpkgs_layout=$(mktemp -d)
trap 'rm -f "$nix_stderr"; rm -rf "$nixpkgs_layout"' EXIT
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

# Files of checks/ cited in comments and docs exist (a comment once sent readers to a check
# file that did not exist).
cited=0
while IFS= read -r ref; do
  cited=$((cited + 1))
  file=${ref#*:}
  if [ ! -e "$file" ]; then
    echo "CITED FILE MISSING: ${ref%%:*} cites $file"; fail=1
  fi
done < <(git grep -oE 'checks/(pure|support|vm)/[A-Za-z0-9_.-]+[.]nix' -- '*.nix' '*.md' '*.sh' | sort -u)
echo "checked $cited citations of checks/ files"

# --- flake.lock ---------------------------------------------------------------------------
# A flake in a git repository sees tracked files only: an untracked flake.lock is ignored and
# Nix would try to lock (fetch) every input.
if [ ! -f flake.lock ] || [ -z "$(git ls-files -- flake.lock)" ]; then
  echo "FLAKE.LOCK MISSING OR UNTRACKED: commit flake.lock (Nix ignores untracked files of a git flake)"; fail=1
elif command -v nix >/dev/null 2>&1; then
  if nix --extra-experimental-features 'nix-command flakes' flake metadata --offline --no-update-lock-file . \
    >/dev/null 2>"$nix_stderr"; then
    echo "flake.lock: accepted by Nix offline (nix flake metadata --offline --no-update-lock-file)"
  else
    echo "FLAKE.LOCK REFUSED: nix flake metadata --offline --no-update-lock-file failed"; show_stderr; fail=1
  fi
else
  echo "SKIPPED: flake.lock not checked (no nix command)"
fi

# --- the pinned upstream trees --------------------------------------------------------------
upstream=${DEVBOX_NIX_UPSTREAM:-}
if [ -z "$upstream" ] && [ -d ../shared/nix/upstream ]; then upstream=../shared/nix/upstream; fi
# DEVBOX_NIX_UPSTREAM=none: run as a machine without the trees would (everything they need SKIPPED).
if [ "$upstream" = none ]; then upstream=; fi
have_upstream=0
if [ -n "$upstream" ]; then
  missing=
  for d in nixpkgs-lib/lib nixpkgs-modules-misc home-manager nix-darwin nixos-wsl; do
    [ -d "$upstream/$d" ] || missing="$missing $d"
  done
  if [ -n "$missing" ]; then
    echo "UPSTREAM TREES INCOMPLETE: $upstream lacks$missing"; fail=1
  else
    have_upstream=1
    upstream=$(cd "$upstream" && pwd -P)
  fi
fi

if [ "$have_upstream" = 1 ]; then
  # Each tree must be the locked input: the NAR hash of the directory (what Nix computes for
  # the unpacked GitHub tarball) equals flake.lock's narHash for that input.
  for input in home-manager nix-darwin nixos-wsl; do
    want=$(python3 -c 'import json,sys; print(json.load(open("flake.lock"))["nodes"][sys.argv[1]]["locked"]["narHash"])' "$input")
    base32=$(nix-hash --type sha256 --base32 "$upstream/$input")
    got=$(nix --extra-experimental-features nix-command hash to-sri --type sha256 "$base32")
    drift=$(awk -v i="$input" -v h="$got" '$1 == i && $2 == h { print "known" }' checks/support/known-upstream-drift)
    if [ "$got" = "$want" ]; then
      echo "upstream tree $input: narHash $got = flake.lock"
    elif [ "$drift" = known ]; then
      echo "UPSTREAM TREE DRIFT (KNOWN, NOT PROOF): $input hashes to $got, flake.lock says $want;"
      echo "  this exact tree is recorded in checks/support/known-upstream-drift: the evaluation against"
      echo "  it is not proof against the locked input. Any other hash fails."
    else
      echo "UPSTREAM TREE IS NOT THE LOCKED INPUT: $input hashes to $got, flake.lock says $want"; fail=1
    fi
  done
  # nixpkgs' lib is a nearby commit of nixpkgs (the locked nixpkgs tree is not available
  # offline), so it cannot hash to the lock entry; the nixpkgs layout the checks use as
  # `pkgs.path`: lib/ and the three nixos/modules/misc files home-manager reads.
  echo "nixpkgs lib: $(cat "$upstream/nixpkgs-lib/lib/.version" 2>/dev/null || echo '?') (a nearby nixpkgs commit, not hash-checked)"
  ln -s "$upstream/nixpkgs-lib/lib" "$nixpkgs_layout/lib"
  ln -s "$upstream/nixpkgs-modules-misc/nixos" "$nixpkgs_layout/nixos"
  ln -s "$upstream/nixpkgs-modules-misc/modules" "$nixpkgs_layout/modules"
  lib_args=(--arg lib "import $upstream/nixpkgs-lib/lib")
  upstream_args=(--arg upstream "{ home-manager = $upstream/home-manager; nix-darwin = $upstream/nix-darwin; nixos-wsl = $upstream/nixos-wsl; nixpkgs = $nixpkgs_layout; }")
else
  echo "SKIPPED (LOUDLY): no pinned upstream trees (set DEVBOX_NIX_UPSTREAM or provide ../shared/nix/upstream):"
  echo "SKIPPED: the narHash check of the upstream trees, the VM test scripts, and every pure check that needs the real nixpkgs lib"
fi

# --- the VM tests' scripts -------------------------------------------------------------------
# The VM tests cannot run here, but their Python test scripts can be rendered and compiled.
if [ "$have_upstream" != 1 ]; then
  echo "SKIPPED: VM test scripts not rendered (they need the real nixpkgs lib)"
elif command -v python3 >/dev/null 2>&1; then
  scripts="{}"
  nix_eval scripts --eval --strict --json "${lib_args[@]}" checks/support/vm-test-scripts.nix || {
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
  echo "SKIPPED: python3 not found, VM test scripts not compiled"
fi

# --- the orchestrator's unit scripts ------------------------------------------------------------
if [ "$have_upstream" = 1 ]; then
  unit_scripts="{}"
  if nix_eval unit_scripts --eval --strict --json "${lib_args[@]}" "${upstream_args[@]}" checks/support/unit-scripts.nix; then
    if ! printf '%s' "$unit_scripts" | python3 -c '
import json, subprocess, sys
failed = False
for name, text in sorted(json.load(sys.stdin).items()):
    r = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
    if r.returncode == 0:
        print("unit script parses (bash -n): " + name)
    else:
        print("UNIT SCRIPT SYNTAX ERROR: %s: %s" % (name, r.stderr.strip()))
        failed = True
sys.exit(1 if failed else 0)
'; then fail=1; fi
  else
    echo "UNIT SCRIPTS DID NOT RENDER:"; show_stderr; fail=1
  fi
else
  echo "SKIPPED: the orchestrator's unit scripts not checked (they need the real nixpkgs lib)"
fi

# --- pure checks -----------------------------------------------------------------------------
# A check is a file that evaluates to true or throws with a message; a check that is a function
# takes { lib, upstream } (the real nixpkgs lib and the pinned trees).
passed=0
failed=0
skipped=0
shopt -s nullglob
for t in checks/pure/*.nix; do
  out=
  is_function=
  nix_eval is_function --eval --expr "builtins.isFunction (import ./$t)" || is_function=false
  if [ "$is_function" = true ] && [ "$have_upstream" != 1 ]; then
    skipped=$((skipped + 1))
    echo "SKIPPED: $t (needs the real nixpkgs lib and the upstream trees)"
    continue
  fi
  args=()
  [ "$is_function" = true ] && args=("${lib_args[@]}" "${upstream_args[@]}")
  if nix_eval out --eval --strict --json "${args[@]}" "$t" && [ "$out" = "true" ]; then
    passed=$((passed + 1))
  else
    echo "PURE CHECK FAILED: $t (result: ${out:-none})"; show_stderr; failed=$((failed + 1)); fail=1
  fi
done
if [ "$skipped" -gt 0 ]; then
  echo "pure Nix checks: $passed passed, $failed failed, $skipped SKIPPED (NOT RUN: no real nixpkgs lib / upstream trees)"
else
  echo "pure Nix checks: $passed passed, $failed failed"
fi

# --- what was checked against upstream ---------------------------------------------------------
if [ "$have_upstream" = 1 ]; then
  counts=
  if nix_eval counts --eval --strict --json "${lib_args[@]}" "${upstream_args[@]}" checks/support/upstream-option-counts.nix; then
    # docs/nix-flake.md lists the same counts; a stale row fails.
    if ! printf '%s' "$counts" | python3 -c '
import json, re, sys
doc = open("docs/nix-flake.md").read()
ok = True
for module, names in json.load(sys.stdin).items():
    print("options checked against an upstream declaration: %3d  %s" % (len(names), module))
    path = module.split()[0]
    row = re.search(r"^\| `" + re.escape(path) + r"` \|.*\| (\d+) \|$", doc, re.M)
    if not row or int(row.group(1)) != len(names):
        print("DOCS STALE: docs/nix-flake.md must list %d options checked for %s" % (len(names), path))
        ok = False
sys.exit(0 if ok else 1)
'; then fail=1; fi
  else
    echo "OPTION COUNT FAILED:"; show_stderr; fail=1
  fi
fi
exit "$fail"
