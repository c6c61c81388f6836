# nixpkgs' NixOS option DECLARATIONS our NixOS modules (and NixOS-WSL's modules, for the WSL
# evaluation) set or read, mirrored in shape: same names, types built with the real nixpkgs lib,
# defaults where our modules read them. nixpkgs' nixos/ tree is not available offline, so this
# is the ONE place the NixOS evaluation (checks/support/upstream-evals.nix) takes NixOS options
# from. Each group names the upstream file it mirrors; each type was compared with that file
# (through the code search; docs/nix-upstream-options.md). Declarations only: no upstream
# implementation is copied, and nothing here is exported to consumers.
{ lib, pkgs, ... }:
let
  inherit (lib) mkOption types;
  opt =
    type: default:
    mkOption {
      inherit type default;
      description = "mirrored upstream declaration";
    };
  bool = default: opt types.bool default;
  enable = opt types.bool false;
  lines = opt types.lines "";
  strList = opt (types.listOf types.str) [ ];
  packages = opt (types.listOf types.package) [ ];
  anything = opt types.anything null;

  # nixos/lib/systemd-lib.nix `unitOption` (no check upstream; here the values systemd takes).
  unitOptionValue = types.oneOf [
    types.bool
    types.int
    types.str
    types.path
    types.package
  ];
  unitOption = types.either unitOptionValue (types.listOf unitOptionValue);

  # nixos/lib/systemd-unit-options.nix: commonUnitOptions, stage2CommonUnitOptions,
  # serviceOptions, stage2ServiceOptions.
  unitNames = opt (types.listOf types.str) [ ];
  commonUnit = {
    enable = bool true;
    description = opt types.singleLineStr "";
    documentation = strList;
    wantedBy = unitNames;
    requiredBy = unitNames;
    upheldBy = unitNames;
    aliases = unitNames;
    requires = unitNames;
    wants = unitNames;
    upholds = unitNames;
    after = unitNames;
    before = unitNames;
    bindsTo = unitNames;
    partOf = unitNames;
    conflicts = unitNames;
    requisite = unitNames;
    onFailure = unitNames;
    onSuccess = unitNames;
    unitConfig = opt (types.attrsOf unitOption) { };
    restartTriggers = opt (types.listOf types.unspecified) [ ];
    reloadTriggers = opt (types.listOf unitOption) [ ];
  };
  service = types.submodule {
    options = commonUnit // {
      environment = opt (types.attrsOf (
        types.nullOr (
          types.oneOf [
            types.str
            types.path
            types.package
          ]
        )
      )) { };
      path = opt (types.listOf (
        types.oneOf [
          types.package
          types.str
        ]
      )) [ ];
      serviceConfig = opt (types.attrsOf unitOption) { };
      script = lines;
      scriptArgs = opt types.str "";
      preStart = lines;
      postStart = lines;
      reload = lines;
      preStop = lines;
      postStop = lines;
      restartIfChanged = bool true;
      reloadIfChanged = enable;
      stopIfChanged = bool true;
      startAt = opt (types.either types.str (types.listOf types.str)) [ ];
      confinement.enable = enable;
    };
  };
  socket = types.submodule {
    options = commonUnit // {
      listenStreams = strList;
      listenDatagrams = strList;
      socketConfig = opt (types.attrsOf unitOption) { };
    };
  };
  target = types.submodule { options = commonUnit; };
  mount = types.submodule {
    options = commonUnit // {
      what = opt types.str "";
      where = opt types.str "";
      type = opt types.str "";
      options = opt types.commas "";
      mountConfig = opt (types.attrsOf unitOption) { };
    };
  };

  # nixos/modules/config/users-groups.nix: userOpts, subordinateUidRange, subordinateGidRange,
  # groupOpts.
  user = types.submodule (
    { name, ... }:
    {
      options = {
        enable = bool true;
        name = opt (types.passwdEntry types.str) name;
        description = opt (types.passwdEntry types.str) "";
        uid = opt (types.nullOr types.int) null;
        isSystemUser = enable;
        isNormalUser = enable;
        group = opt types.str "";
        extraGroups = strList;
        home = opt (types.passwdEntry types.path) "/var/empty";
        createHome = enable;
        useDefaultShell = enable;
        shell = opt (types.nullOr (types.either types.shellPackage (types.passwdEntry types.path))) null;
        packages = packages;
        hashedPassword = opt (types.nullOr (types.passwdEntry types.str)) null;
        initialHashedPassword = opt (types.nullOr (types.passwdEntry types.str)) null;
        initialPassword = opt (types.nullOr types.str) null;
        password = opt (types.nullOr types.str) null;
        hashedPasswordFile = opt (types.nullOr types.str) null;
        linger = opt (types.nullOr types.bool) null;
        autoSubUidGidRange = enable;
        subUidRanges = opt (types.listOf (
          types.submodule {
            options = {
              startUid = mkOption { type = types.int; };
              count = opt types.int 1;
            };
          }
        )) [ ];
        subGidRanges = opt (types.listOf (
          types.submodule {
            options = {
              startGid = mkOption { type = types.int; };
              count = opt types.int 1;
            };
          }
        )) [ ];
        # nixos/modules/services/networking/ssh/sshd.nix (users.users.<name>.openssh)
        openssh.authorizedKeys = {
          keys = opt (types.listOf types.singleLineStr) [ ];
          keyFiles = opt (types.listOf types.path) [ ];
        };
      };
    }
  );
  group = types.submodule (
    { name, ... }:
    {
      options = {
        name = opt (types.passwdEntry types.str) name;
        gid = opt (types.nullOr types.int) null;
        members = opt (types.listOf (types.passwdEntry types.str)) [ ];
      };
    }
  );

  # nixos/modules/system/etc/etc.nix: the environment.etc.<name> submodule.
  etcFile = types.submodule (
    { name, ... }:
    {
      options = {
        enable = bool true;
        target = opt types.str name;
        text = opt (types.nullOr types.lines) null;
        source = opt types.path null;
        mode = opt types.str "symlink";
        uid = opt types.int 0;
        gid = opt types.int 0;
        user = opt types.str "+0";
        group = opt types.str "+0";
      };
    }
  );
in
{
  options = {
    # nixos/modules/system/activation/top-level.nix
    system.checks = packages;
    system.build = opt (types.lazyAttrsOf types.unspecified) { };
    system.stateVersion = opt types.str "26.11";
    # nixos/modules/system/activation/activation-script.nix
    system.activationScripts = opt (types.attrsOf (types.either types.str (types.attrsOf types.unspecified))) { };

    # nixos/modules/services/networking/ssh/sshd.nix (settings: a freeform submodule)
    services.openssh = {
      enable = enable;
      openFirewall = bool true;
      settings = mkOption {
        default = { };
        description = "mirrored upstream declaration";
        type = types.submodule {
          freeformType = types.attrsOf (
            types.nullOr (
              types.oneOf [
                types.bool
                types.int
                types.str
                (types.listOf types.str)
              ]
            )
          );
          options = {
            PasswordAuthentication = opt (types.nullOr types.bool) true;
            KbdInteractiveAuthentication = opt (types.nullOr types.bool) true;
            PermitRootLogin = opt (types.nullOr (
              types.enum [
                "yes"
                "without-password"
                "prohibit-password"
                "forced-commands-only"
                "no"
              ]
            )) "prohibit-password";
            AllowUsers = opt (types.nullOr (types.listOf types.str)) null;
            AllowGroups = opt (types.nullOr (types.listOf types.str)) null;
          };
        };
      };
    };

    # nixos/modules/config/users-groups.nix
    users.users = opt (types.attrsOf user) { };
    users.groups = opt (types.attrsOf group) { };
    users.mutableUsers = bool true;

    # nixos/modules/security/sudo.nix
    security.sudo.wheelNeedsPassword = bool true;
    # nixos/modules/security/polkit.nix
    security.polkit.enable = enable;

    # nixos/modules/services/networking/firewall.nix
    networking.firewall = {
      enable = bool true;
      allowedTCPPorts = opt (types.listOf types.port) [ ];
      allowedUDPPorts = opt (types.listOf types.port) [ ];
      trustedInterfaces = strList;
      # interfaces.<name> takes the same port options (upstream's commonOptions).
      interfaces = opt (types.attrsOf (
        types.submodule {
          options = {
            allowedTCPPorts = opt (types.listOf types.port) [ ];
            allowedUDPPorts = opt (types.listOf types.port) [ ];
          };
        }
      )) { };
    };
    # nixos/modules/services/networking/nftables.nix
    networking.nftables.enable = enable;
    # nixos/modules/tasks/network-interfaces.nix
    networking.hostName = opt types.str "nixos";
    networking.nameservers = strList;
    # nixos/modules/services/networking/dhcpcd.nix
    networking.dhcpcd.enable = bool true;
    # nixos/modules/config/resolvconf.nix
    networking.resolvconf.enable = bool true;

    # nixos/modules/virtualisation/podman/default.nix
    virtualisation.podman = {
      enable = enable;
      dockerCompat = enable;
      dockerSocket.enable = enable;
      package = opt types.package pkgs.podman;
    };

    # nixos/modules/system/etc/etc.nix
    environment.etc = opt (types.attrsOf etcFile) { };
    # nixos/modules/config/system-path.nix
    environment.systemPackages = packages;
    # nixos/modules/config/shells-environment.nix
    environment.shellAliases = opt (types.attrsOf (types.nullOr (types.either types.str types.path))) { };
    environment.variables = opt (types.attrsOf (types.either types.str (types.listOf types.str))) { };
    environment.interactiveShellInit = lines;
    environment.loginShellInit = lines;
    environment.shellInit = lines;
    # nixos/modules/config/system-environment.nix
    environment.sessionVariables = opt (types.attrsOf (types.either types.str (types.listOf types.str))) { };

    # nixos/modules/system/boot/systemd.nix
    systemd.services = opt (types.attrsOf service) { };
    systemd.sockets = opt (types.attrsOf socket) { };
    systemd.mounts = opt (types.listOf mount) [ ];
    systemd.targets = opt (types.attrsOf target) { };
    # nixos/modules/system/boot/systemd/user.nix
    systemd.user.services = opt (types.attrsOf service) { };
    systemd.user.sockets = opt (types.attrsOf socket) { };
    systemd.packages = packages;
    systemd.enableEmergencyMode = bool true;
    # nixos/modules/system/boot/systemd/oomd.nix
    systemd.oomd.enable = bool true;
    # nixos/modules/system/boot/systemd/tmpfiles.nix
    systemd.tmpfiles.rules = strList;

    # nixos/modules/programs/git.nix
    programs.git = {
      enable = enable;
      # gitini = attrsOf (attrsOf anything); a list keeps sections in order.
      config = opt (
        let
          gitini = types.attrsOf (types.attrsOf types.anything);
        in
        types.either gitini (types.listOf gitini)
      ) [ ];
    };
    # nixos/modules/programs/zsh/zsh.nix
    programs.zsh.enable = enable;
    # nixos/modules/programs/tmux.nix
    programs.tmux = {
      enable = enable;
      extraConfig = lines;
    };
    # nixos/modules/programs/wayland/hyprland.nix
    programs.hyprland = {
      enable = enable;
      package = opt types.package pkgs.hyprland;
    };

    # nixos/modules/services/display-managers/greetd.nix (settings: TOML, pkgs.formats.toml)
    services.greetd = {
      enable = enable;
      settings = opt (types.attrsOf types.anything) { };
    };
    # nixos/modules/config/fonts/packages.nix
    fonts.packages = packages;
    # nixos/modules/hardware/graphics.nix
    hardware.graphics = {
      enable = enable;
      extraPackages = packages;
    };
    # nixos/modules/virtualisation/nixos-containers.nix
    boot.isContainer = enable;

    # nixos/modules/services/networking/tailscale.nix
    services.tailscale = {
      enable = enable;
      package = opt types.package pkgs.tailscale;
      authKeyFile = opt (types.nullOr types.path) null;
      extraUpFlags = strList;
      extraSetFlags = strList;
      extraDaemonFlags = strList;
      interfaceName = opt types.str "tailscale0";
      openFirewall = enable;
      port = opt types.port 41641;
      useRoutingFeatures = opt (types.enum [
        "none"
        "client"
        "server"
        "both"
      ]) "none";
    };

    # Set or read by NixOS-WSL's modules (the WSL evaluation only).
    # nixos/modules/system/boot/binfmt.nix
    boot.binfmt.registrations = opt (types.attrsOf (
      types.submodule {
        options = {
          magicOrExtension = mkOption { type = types.str; };
          fixBinary = enable;
          wrapInterpreterInShell = bool true;
          interpreter = mkOption { type = types.str; };
          preserveArgvZero = enable;
        };
      }
    )) { };
    # nixos/modules/misc/version.nix
    system.nixos.release = opt types.str "26.11";
    # nixos/modules/config/nix-channel.nix, nixos/modules/config/nix.nix
    nix.channel.enable = bool true;
    nix.package = opt types.package pkgs.nix;
    # nixos/modules/tasks/network-interfaces.nix
    networking.extraHosts = lines;
    # nixos/modules/config/shells-environment.nix
    environment.extraInit = lines;
    # nixos/modules/system/boot/kernel.nix, stage-1.nix, loader/grub/grub.nix, modprobe.nix
    boot.initrd.enable = bool true;
    boot.kernel.enable = bool true;
    boot.loader.grub.enable = bool true;
    boot.modprobeConfig.enable = bool true;
    # nixos/modules/config/console.nix
    console.enable = bool true;
    # nixos/modules/config/power-management.nix
    powerManagement.enable = bool true;
    # nixos/modules/tasks/filesystems/envfs.nix
    services.envfs = {
      enable = enable;
      extraFallbackPathCommands = lines;
    };
    # nixos/modules/system/boot/timesyncd.nix
    services.timesyncd.enable = bool true;
    # nixos/modules/system/boot/resolved.nix
    services.resolved.enable = enable;
    # nixos/modules/services/hardware/udev.nix
    services.udev.enable = bool true;

    # Read by our modules with `or false` (absent on a plain NixOS without the module).
    services.xserver.enable = enable;
    services.syncthing.enable = enable;
    services.xrdp.enable = enable;
  };
}
