# modules/home/devbox.nix (with examples/home/alice.nix) evaluated with ALL of home-manager's
# modules at the locked revision, `_module.check` on: every option the module sets exists in
# home-manager with a type that accepts our value (checks/support/upstream-evals.nix), no
# assertion fails, and the configuration carries the shared profile.
{ lib, upstream, ... }:
let
  evals = import ../support/upstream-evals.nix { inherit lib upstream; };
  eval = evals.homeManager;
  cfg = eval.config;
  profile = import ../../profiles;
  check = cond: msg: if cond then true else throw "upstream-home-manager: ${msg}";
  contains = needle: hay: lib.hasInfix needle hay;
  checked = evals.optionsSetBy {
    inherit eval;
    file = ../../modules/home/devbox.nix;
  };
  failed = evals.failedAssertions eval;
in
builtins.all (x: x) [
  (check (failed == [ ]) "failed assertions: ${builtins.toJSON failed}")
  (check (builtins.length checked >= 10) "too few home-manager options reached: ${builtins.toJSON checked}")
  (check (cfg.programs.git.enable && cfg.programs.git.settings.user == {
    name = "Alice Example";
    email = "alice@example.com";
  }) "git identity in programs.git.settings.user")
  (check (cfg.programs.git.settings.init.defaultBranch == "main") "the shared git config in programs.git.settings")
  (check (lib.all (p: lib.elem p cfg.home.packages) (profile.packagesFor (import ../support/stub-pkgs.nix { inherit lib; }))) "home.packages holds the shared tool list")
  (check (cfg.home.shellAliases.ll == profile.shell.aliases.ll) "shared aliases")
  (check (contains "direnv hook" cfg.programs.bash.initExtra) "bash gets the shared init")
  # The zsh part (on by default on macOS): both zsh options are set, not one hiding the other.
  (check (cfg.programs.zsh.enable && contains "direnv hook" cfg.programs.zsh.initContent) "zsh enabled with the shared init")
  (check (cfg.xdg.configFile."nvim/init.lua".text == profile.editor.neovimInitLua) "neovim init")
]
