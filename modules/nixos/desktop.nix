# NixOS module `services.devbox.desktop`: a bare-metal Linux workstation with Hyprland, a
# greeter that boots straight into it, and the shared CLI profile (FR-021..024). It carries no
# remote-access component: the dev containers are reached over the tailnet, the desktop itself
# accepts no remote logins.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.devbox.desktop;
  hyprland = lib.getExe config.programs.hyprland.package;
  # tuigreet moved from pkgs.greetd.tuigreet to the top level.
  tuigreet = pkgs.tuigreet or pkgs.greetd.tuigreet;
  enabled = path: lib.attrByPath path false config == true;
  remoteAccess = lib.filter enabled [
    [ "services" "openssh" "enable" ]
    [ "services" "xrdp" "enable" ]
    [ "services" "code-server" "enable" ]
    [ "services" "openvscode-server" "enable" ]
    [ "services" "sunshine" "enable" ]
    [ "services" "teamviewer" "enable" ]
    [ "services" "rustdesk-server" "enable" ]
  ];
  tailscaleSsh = lib.elem "--ssh" (
    (config.services.tailscale.extraUpFlags or [ ]) ++ (config.services.tailscale.extraSetFlags or [ ])
  );
in
{
  imports = [ ./profile.nix ];

  options.services.devbox.desktop = {
    enable = lib.mkEnableOption "the nix-devbox Hyprland desktop (bare metal)";

    user = lib.mkOption {
      type = lib.types.str;
      example = "alice";
      description = "The person this workstation belongs to; the greeter logs them straight into Hyprland at boot.";
    };

    autoLogin = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Start Hyprland for `user` at boot without asking (the greeter still runs after logout).";
    };

    extraPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.firefox pkgs.obsidian ]";
      description = "Desktop applications installed next to the defaults (terminal, launcher, bar, notifications).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !(config.wsl.enable or false);
        message = "services.devbox.desktop is for bare metal; under WSL use services.devbox.orchestrator (see docs/nix-wsl.md).";
      }
      {
        assertion = !config.boot.isContainer;
        message = "services.devbox.desktop is for bare metal, not a container.";
      }
      {
        assertion = remoteAccess == [ ];
        message = "The devbox desktop has no remote-access components; disable: ${
          lib.concatMapStringsSep ", " (lib.concatStringsSep ".") remoteAccess
        }.";
      }
      {
        assertion = !tailscaleSsh;
        message = "The devbox desktop accepts no remote logins: remove --ssh from services.tailscale.extraUpFlags/extraSetFlags.";
      }
      {
        assertion = config.users.users ? ${cfg.user};
        message = "services.devbox.desktop.user = \"${cfg.user}\" is not a user of this machine (users.users).";
      }
    ];

    services.devbox.profile.enable = lib.mkDefault true;

    programs.hyprland.enable = true;

    services.greetd = {
      enable = true;
      settings = {
        default_session = {
          command = "${lib.getExe tuigreet} --time --remember --cmd ${hyprland}";
          user = "greeter";
        };
      }
      // lib.optionalAttrs cfg.autoLogin {
        initial_session = {
          command = hyprland;
          inherit (cfg) user;
        };
      };
    };

    # What Hyprland's default configuration calls: kitty ($terminal), wofi ($menu).
    environment.systemPackages = [
      pkgs.kitty
      pkgs.wofi
      pkgs.waybar
      pkgs.mako
      pkgs.wl-clipboard
    ]
    ++ cfg.extraPackages;

    fonts.packages = [ pkgs.nerd-fonts.jetbrains-mono ];
    security.polkit.enable = true;
    hardware.graphics.enable = true;
  };
}
