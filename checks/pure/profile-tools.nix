# The shared tool list is well formed and holds what the issue promises a team: unique nixpkgs
# names, a program for each entry that has one, and the tools named in the issue.
let
  profile = import ../../profiles;
  check = cond: msg: if cond then true else throw "profile-tools: ${msg}";
  count = n: builtins.length (builtins.filter (x: x == n) profile.toolNames);
  duplicates = builtins.filter (n: count n > 1) profile.toolNames;
  required = [
    "ripgrep"
    "fd"
    "bat"
    "eza"
    "fzf"
    "jq"
    "git"
    "gh"
    "lazygit"
    "neovim"
    "tmux"
    "zellij"
    "direnv"
    "nix-direnv"
    "btop"
    "just"
    "curl"
  ];
  missing = builtins.filter (n: !(builtins.elem n profile.toolNames)) required;
  wellFormed = builtins.all (
    t:
    builtins.isString t.attr
    && builtins.match "[A-Za-z0-9_+-]+" t.attr != null
    && (t.bin == null || builtins.isString t.bin)
    && builtins.isString t.why
    && builtins.attrNames t == [ "attr" "bin" "why" ]
  ) profile.tools;
  # packagesFor maps names to packages and says which name is missing.
  fakePkgs = builtins.listToAttrs (
    map (n: {
      name = n;
      value = "pkg-" + n;
    }) profile.toolNames
  );
  missingOne = builtins.removeAttrs fakePkgs [ "jq" ];
  tried = builtins.tryEval (builtins.deepSeq (profile.packagesFor missingOne) true);
in
builtins.all (x: x) [
  (check (duplicates == [ ]) "duplicate tools: ${builtins.toJSON duplicates}")
  (check (missing == [ ]) "tools the team expects are missing: ${builtins.toJSON missing}")
  (check wellFormed "every entry must be { attr = \"name\"; bin = \"program\" or null; why = \"...\"; }")
  (check (profile.packagesFor fakePkgs == map (n: "pkg-" + n) profile.toolNames) "packagesFor must keep the list order")
  (check (!tried.success) "packagesFor must fail when a tool is missing from pkgs")
  (check (builtins.elem "rg" profile.toolPrograms && !(builtins.elem null profile.toolPrograms)) "toolPrograms must list programs only")
  (check (profile.shell.variables.EDITOR == "nvim") "the editor is neovim")
  (check (profile.git.init.defaultBranch == "main") "git's default branch is main")
]
