# home-manager module `programs.devbox`: the shared CLI profile for one user (the Mac through
# nix-darwin, any Linux with home-manager). Tools, shell, git and editor settings all come from
# profiles/, the same data the dev container image uses.
{
  config,
  lib,
  pkgs,
  options,
  ...
}:
let
  cfg = config.programs.devbox;
  profile = import ../../profiles;

  # The person's users.nix entry, if given: git gets the same identity as in their dev
  # containers (name = description, email, github.user = gitUser). The explicit git.* options win.
  entry = if (cfg.user or null) == null then { } else cfg.user;
  orEntry = v: field: if v != null then v else entry.${field} or null;
  identity = lib.filterAttrs (_: v: v != null) {
    name = orEntry cfg.git.userName "description";
    email = orEntry cfg.git.userEmail "email";
  };
  gitSettings = lib.recursiveUpdate profile.git (
    lib.optionalAttrs (identity != { }) { user = identity; }
    // lib.optionalAttrs (entry ? gitUser) { github.user = entry.gitUser; }
  );
in
{
  options.programs.devbox = {
    enable = lib.mkEnableOption "the nix-devbox shared CLI profile (tools, shell, git and editor configuration)";

    extraPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.kubectl ]";
      description = "Packages installed next to the shared tool list.";
    };

    user = lib.mkOption {
      type = lib.types.nullOr (lib.types.attrsOf lib.types.anything);
      default = null;
      example = lib.literalExpression "(import ./users.nix).users.alice";
      description = ''
        This person's entry of the team's users.nix. Sets git's identity as in their dev
        containers: user.name from `description`, user.email from `email`, github.user from
        `gitUser` (git.userName / git.userEmail override the first two).
      '';
    };

    git = {
      userName = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "Alice Example";
        description = "git's user.name (null leaves it unset).";
      };
      userEmail = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "alice@example.com";
        description = "git's user.email (null leaves it unset).";
      };
    };

    zsh.enable = lib.mkOption {
      type = lib.types.bool;
      default = pkgs.stdenv.hostPlatform.isDarwin;
      defaultText = lib.literalExpression "pkgs.stdenv.hostPlatform.isDarwin";
      description = "Also configure zsh (macOS's login shell) with the shared aliases and hooks.";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        home.packages = profile.packagesFor pkgs ++ cfg.extraPackages;
        # mkDefault: a user's own definition of an alias or variable wins.
        home.shellAliases = lib.mapAttrs (_: lib.mkDefault) profile.shell.aliases;
        home.sessionVariables = lib.mapAttrs (_: lib.mkDefault) profile.shell.variables;

        programs.bash = {
          enable = lib.mkDefault true;
          initExtra = profile.shell.interactiveInit;
        };

        programs.git.enable = true;

        xdg.configFile = {
          # mkDefault: home-manager's neovim/tmux modules (or the user) may own these files.
          "nvim/init.lua".text = lib.mkDefault profile.editor.neovimInitLua;
          "tmux/tmux.conf".text = lib.mkDefault profile.editor.tmuxConf;
          # direnv sources every file in ~/.config/direnv/lib; home-manager's own direnv module
          # uses another file name there, so both can coexist.
          "direnv/lib/devbox-nix-direnv.sh".text = profile.shell.direnvrc pkgs.nix-direnv;
        };
      }

      # home-manager renamed programs.git.extraConfig to programs.git.settings (and folded
      # userName/userEmail into settings.user); follow whichever this release declares.
      (
        if options.programs.git ? settings then
          { programs.git.settings = gitSettings; }
        else
          { programs.git.extraConfig = gitSettings; }
      )

      (lib.mkIf cfg.zsh.enable (
        lib.mkMerge [
          { programs.zsh.enable = lib.mkDefault true; }
          # programs.zsh.initExtra became programs.zsh.initContent.
          (
            if options.programs.zsh ? initContent then
              { programs.zsh.initContent = profile.shell.interactiveInit; }
            else
              { programs.zsh.initExtra = profile.shell.interactiveInit; }
          )
        ]
      ))
    ]
  );
}
