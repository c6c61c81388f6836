# NixOS module `services.devbox.profile`: the shared CLI profile installed system-wide, for every
# user of the machine (the desktop and the orchestrator import it). Same data as the image and
# the home-manager module: profiles/.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.devbox.profile;
  profile = import ../../profiles;
in
{
  options.services.devbox.profile = {
    enable = lib.mkEnableOption "the nix-devbox shared CLI profile for all users of this machine";

    extraPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.kubectl ]";
      description = "Packages installed next to the shared tool list.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = profile.packagesFor pkgs ++ cfg.extraPackages;
    environment.shellAliases = profile.shell.aliases;
    environment.variables = profile.shell.variables;
    environment.interactiveShellInit = profile.shell.interactiveInit;

    programs.git = {
      enable = true;
      config = profile.git;
    };
    programs.zsh.enable = lib.mkDefault true;
    programs.tmux = {
      enable = true;
      extraConfig = profile.editor.tmuxConf;
    };

    environment.etc = {
      "xdg/nvim/sysinit.vim".text = ''
        lua << EOF
        ${profile.editor.neovimInitLua}
        EOF
      '';
      "direnv/direnvrc".text = profile.shell.direnvrc pkgs.nix-direnv;
    };
    environment.sessionVariables.DIRENV_CONFIG = "/etc/direnv";
  };
}
