# Shell configuration shared by every environment: aliases, environment variables and the
# interactive init both bash and zsh run. Plain data (strings), no nixpkgs needed.
{
  # Aliases for bash and zsh. eza/bat replace ls/cat only interactively.
  aliases = {
    ls = "eza";
    ll = "eza -l --git";
    la = "eza -la --git";
    lt = "eza --tree --level=2";
    cat = "bat --paging=never";
    g = "git";
    lg = "lazygit";
    vim = "nvim";
    vi = "nvim";
  };

  # Session variables.
  variables = {
    EDITOR = "nvim";
    VISUAL = "nvim";
    PAGER = "less";
    LESS = "-R";
    MANPAGER = "sh -c 'col -bx | bat -l man -p'";
    BAT_THEME = "ansi";
  };

  # Run by interactive bash and zsh after the aliases. Every hook is guarded with `command -v`
  # so a missing tool never breaks a login; ZSH_NAME tells zsh from bash.
  interactiveInit = ''
    __devbox_shell="''${ZSH_NAME:-bash}"
    if command -v direnv >/dev/null 2>&1; then
      eval "$(direnv hook "$__devbox_shell")"
    fi
    if command -v zoxide >/dev/null 2>&1; then
      eval "$(zoxide init "$__devbox_shell")"
    fi
    if command -v starship >/dev/null 2>&1; then
      eval "$(starship init "$__devbox_shell")"
    fi
    unset __devbox_shell
  '';

  # direnv: load nix-direnv's `use flake` (the path is filled in by each consumer).
  direnvrc = nixDirenvPath: ''
    source ${nixDirenvPath}/share/nix-direnv/direnvrc
  '';
}
