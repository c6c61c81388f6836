# nix-darwin module `services.devbox.workstation`: a Mac with Aerospace (tiling, hotkeys below)
# and the shared CLI profile through home-manager (FR-017..020). No remote-access components.
#
# Needs home-manager's darwin module (home-manager.darwinModules.home-manager) in the same
# configuration; the example consumer flake imports both.
{
  config,
  lib,
  pkgs,
  options,
  ...
}:
let
  cfg = config.services.devbox.workstation;
  hasHomeManager = options ? home-manager;

  # Aerospace hotkeys: alt + h/j/k/l focus, alt + shift + h/j/k/l move, alt + 1..9 workspaces,
  # alt + shift + 1..9 send to a workspace, alt + enter terminal, alt + f fullscreen,
  # alt + / and alt + , layouts, alt + shift + ; service mode.
  workspaces = map toString (lib.range 1 9);
  bindings = {
    alt-h = "focus left";
    alt-j = "focus down";
    alt-k = "focus up";
    alt-l = "focus right";
    alt-shift-h = "move left";
    alt-shift-j = "move down";
    alt-shift-k = "move up";
    alt-shift-l = "move right";
    alt-f = "fullscreen";
    alt-slash = "layout tiles horizontal vertical";
    alt-comma = "layout accordion horizontal vertical";
    alt-minus = "resize smart -50";
    alt-equal = "resize smart +50";
    alt-tab = "workspace-back-and-forth";
    alt-enter = "exec-and-forget open -na ${lib.escapeShellArg cfg.terminalApp}";
    alt-shift-semicolon = "mode service";
  }
  // lib.listToAttrs (
    map (w: lib.nameValuePair "alt-${w}" "workspace ${w}") workspaces
    ++ map (w: lib.nameValuePair "alt-shift-${w}" "move-node-to-workspace ${w}") workspaces
  );
in
{
  options.services.devbox.workstation = {
    enable = lib.mkEnableOption "the nix-devbox Mac workstation (Aerospace and the shared CLI profile)";

    user = lib.mkOption {
      type = lib.types.str;
      example = "alice";
      description = "The macOS account that gets the shared profile (also system.primaryUser).";
    };

    terminalApp = lib.mkOption {
      type = lib.types.str;
      default = "Terminal";
      example = "Ghostty";
      description = "The application alt-enter opens.";
    };

    aerospace.extraSettings = lib.mkOption {
      type = lib.types.attrsOf lib.types.anything;
      default = { };
      example = {
        gaps.inner.horizontal = 8;
      };
      description = "Merged into services.aerospace.settings (TOML, see the Aerospace guide).";
    };

    extraApps = {
      packages = lib.mkOption {
        type = lib.types.listOf lib.types.package;
        default = [ ];
        example = lib.literalExpression "[ pkgs.obsidian ]";
        description = "The hook for extra applications from nixpkgs (e.g. Obsidian; unfree ones need nixpkgs.config.allowUnfree).";
      };
      casks = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ ];
        example = [ "obsidian" ];
        description = "The hook for extra applications from Homebrew casks. Enables nix-darwin's homebrew module (Homebrew itself must be installed).";
      };
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = hasHomeManager;
            message = "services.devbox.workstation needs home-manager: add home-manager.darwinModules.home-manager to this configuration's modules.";
          }
          {
            assertion = (config.services.openssh.enable or null) != true;
            message = "The devbox workstation has no remote-access components: services.openssh.enable must not be true.";
          }
        ];

        system.primaryUser = lib.mkDefault cfg.user;
        users.users.${cfg.user}.home = lib.mkDefault "/Users/${cfg.user}";

        services.aerospace = {
          enable = true;
          settings = lib.recursiveUpdate {
            mode.main.binding = bindings;
            mode.service.binding = {
              esc = [
                "reload-config"
                "mode main"
              ];
              r = [
                "flatten-workspace-tree"
                "mode main"
              ];
              backspace = [
                "close-all-windows-but-current"
                "mode main"
              ];
            };
            gaps = {
              inner.horizontal = 6;
              inner.vertical = 6;
              outer.left = 6;
              outer.right = 6;
              outer.top = 6;
              outer.bottom = 6;
            };
          } cfg.aerospace.extraSettings;
        };

        environment.systemPackages = cfg.extraApps.packages;
      }

      (lib.mkIf (cfg.extraApps.casks != [ ]) {
        homebrew = {
          enable = true;
          inherit (cfg.extraApps) casks;
        };
      })

      (lib.optionalAttrs hasHomeManager {
        home-manager = {
          useGlobalPkgs = lib.mkDefault true;
          useUserPackages = lib.mkDefault true;
          users.${cfg.user} = {
            imports = [ ../home/devbox.nix ];
            programs.devbox = {
              enable = true;
              zsh.enable = true;
            };
          };
        };
      })
    ]
  );
}
