# modules/darwin/workstation.nix (with examples/hosts/mac.nix) evaluated with nix-darwin's
# eval-config.nix and home-manager's darwin module at the locked revisions, `_module.check` on:
# every option the module sets exists upstream with a type that accepts our value, no assertion
# fails, and alice's home-manager configuration carries the shared profile.
{ lib, upstream, ... }:
let
  evals = import ../support/upstream-evals.nix { inherit lib upstream; };
  eval = evals.darwin;
  cfg = eval.config;
  check = cond: msg: if cond then true else throw "upstream-darwin: ${msg}";
  checked = evals.optionsSetBy {
    inherit eval;
    file = ../../modules/darwin/workstation.nix;
  };
  failed = evals.failedAssertions eval;
  alice = cfg.home-manager.users.alice;
in
builtins.all (x: x) [
  (check (failed == [ ]) "failed assertions: ${builtins.toJSON failed}")
  (check (builtins.length checked >= 8) "too few nix-darwin options reached: ${builtins.toJSON checked}")
  (check (cfg.system.primaryUser == "alice" && cfg.users.users.alice.home == "/Users/alice") "primary user and home")
  (check (cfg.services.aerospace.enable && cfg.services.aerospace.settings.mode.main.binding.alt-h == "focus left") "Aerospace with our bindings")
  (check (cfg.homebrew.enable && cfg.homebrew.casks != [ ]) "the casks hook enables homebrew")
  (check (alice.programs.devbox.enable && alice.programs.zsh.enable && alice.programs.git.settings.user.name == "Alice Example") "alice's home-manager profile (zsh, git identity)")
]
