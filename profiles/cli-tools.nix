# The ONE list of command-line tools every nix-devbox environment carries: the dev container
# image, the home-manager profile, the Hyprland desktop and the Mac all install exactly this list
# (SC-008..010). It is plain data so that checks/pure/ can read it without nixpkgs.
#
# Each entry:
#   attr  - the attribute name in nixpkgs (top level).
#   bin   - a program the package puts on PATH; the VM tests look for it in the container.
#   why   - one line for the docs (docs/nix-profile.md).
[
  { attr = "bashInteractive"; bin = "bash"; why = "the login shell"; }
  { attr = "zsh"; bin = "zsh"; why = "the alternative shell many developers prefer"; }
  { attr = "coreutils"; bin = "ls"; why = "GNU userland, the same on Linux and macOS"; }
  { attr = "findutils"; bin = "find"; why = "find and xargs"; }
  { attr = "gnugrep"; bin = "grep"; why = "grep"; }
  { attr = "gnused"; bin = "sed"; why = "GNU sed (macOS ships BSD sed)"; }
  { attr = "gawk"; bin = "awk"; why = "awk"; }
  { attr = "gnutar"; bin = "tar"; why = "tar"; }
  { attr = "gzip"; bin = "gzip"; why = "gzip"; }
  { attr = "unzip"; bin = "unzip"; why = "zip archives"; }
  { attr = "less"; bin = "less"; why = "pager"; }
  { attr = "which"; bin = "which"; why = "which"; }
  { attr = "procps"; bin = "ps"; why = "ps, top, free"; }
  { attr = "openssh"; bin = "ssh"; why = "ssh client, git over ssh"; }
  { attr = "git"; bin = "git"; why = "version control"; }
  { attr = "git-lfs"; bin = "git-lfs"; why = "large files in git"; }
  { attr = "gh"; bin = "gh"; why = "GitHub CLI"; }
  { attr = "lazygit"; bin = "lazygit"; why = "git TUI"; }
  { attr = "delta"; bin = "delta"; why = "diff pager for git"; }
  { attr = "ripgrep"; bin = "rg"; why = "fast grep"; }
  { attr = "fd"; bin = "fd"; why = "fast find"; }
  { attr = "bat"; bin = "bat"; why = "cat with syntax highlighting"; }
  { attr = "eza"; bin = "eza"; why = "ls replacement"; }
  { attr = "fzf"; bin = "fzf"; why = "fuzzy finder"; }
  { attr = "zoxide"; bin = "zoxide"; why = "smarter cd"; }
  { attr = "jq"; bin = "jq"; why = "JSON processor"; }
  { attr = "yq-go"; bin = "yq"; why = "YAML processor"; }
  { attr = "tree"; bin = "tree"; why = "directory trees"; }
  { attr = "neovim"; bin = "nvim"; why = "the default editor"; }
  { attr = "tmux"; bin = "tmux"; why = "terminal multiplexer"; }
  { attr = "zellij"; bin = "zellij"; why = "terminal workspace"; }
  { attr = "direnv"; bin = "direnv"; why = "per-directory environments"; }
  { attr = "nix-direnv"; bin = null; why = "fast, cached `use flake` for direnv (a direnv library, no program)"; }
  { attr = "btop"; bin = "btop"; why = "resource monitor"; }
  { attr = "just"; bin = "just"; why = "command runner"; }
  { attr = "curl"; bin = "curl"; why = "HTTP client"; }
  { attr = "wget"; bin = "wget"; why = "downloads"; }
  { attr = "rsync"; bin = "rsync"; why = "file sync"; }
  { attr = "htop"; bin = "htop"; why = "process viewer"; }
  { attr = "shellcheck"; bin = "shellcheck"; why = "shell script linter"; }
  { attr = "nixfmt"; bin = "nixfmt"; why = "Nix formatter (RFC 166 style; the old nixfmt-rfc-style name is gone)"; }
  { attr = "nil"; bin = "nil"; why = "Nix language server"; }
  { attr = "starship"; bin = "starship"; why = "prompt"; }
]
