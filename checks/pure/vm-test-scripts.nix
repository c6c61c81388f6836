# What the VM tests' scripts must do right (they only run where KVM exists; here they are
# rendered with checks/support/vm-test-scripts.nix and inspected):
#   - the token-canary scan follows /etc/devbox's symlinks into /etc/static (grep -R) and counts
#     only grep's "no match" (exit 1) as a pass, never its error exit 2;
#   - tailnet nodes are counted from `headscale nodes list -o json`, never by grepping for a
#     Tailscale-style `NAME-1` suffix that headscale does not produce;
#   - the image loader's removal of older images is exercised.
{ lib, ... }:
let
  scripts = import ../support/vm-test-scripts.nix { inherit lib; };
  check = cond: msg: if cond then true else throw "vm-test-scripts: ${msg}";
  has = needle: hay: lib.hasInfix needle hay;
  boot = scripts.orchestrator-boot;
  tailnetScripts = [
    scripts.container-lifecycle
    scripts.reboot-restores
  ];
in
builtins.all (x: x) [
  (check (has "grep -RlF" boot && !(has "grep -rlF" boot)) "orchestrator-boot: the canary scan must follow symlinks (grep -R)")
  (check (has "assert rc == 1" boot) "orchestrator-boot: only grep's exit 1 (no match) may pass the canary scan")
  (check (has "podman image exists {repo}:older" boot) "orchestrator-boot: the removal of older images must be tested")
  (check (lib.all (s: has "wait_tailnet_nodes(headscale, \"alice-dev\"" s) tailnetScripts) "the tailnet tests must count nodes from headscale's JSON")
  (check (lib.all (s: !(has "grep -F alice-dev" s)) tailnetScripts) "no tailnet test may grep headscale's table for a node name")
  (check (has "headscale nodes list -o json" scripts.container-lifecycle) "the node count reads `headscale nodes list -o json`")
]
