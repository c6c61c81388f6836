# NixOS module `services.devbox.orchestrator`: a headless host (bare metal, VM or WSL2) that
# runs per-user dev containers under Podman, driven by devboxd and devbox-ctl.
#
# The flake's `nixosModules.orchestrator` imports this file and sets the package options to
# this flake's builds (mkDefault), like lanzaboote and sops-nix do; import this file directly
# only if you provide the packages yourself.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.devbox.orchestrator;
  json = pkgs.formats.json { };

  # users.nix -> the UsersFile model (crates/devbox-schema/src/model.rs), evaluated by Nix.
  exported = import ../../lib/export-users.nix { inherit (cfg) usersFile; };
  usersJson = json.generate "devbox-users.json" exported;

  # The Rust validator checks what Nix cannot (SSH key syntax, limits, reserved names). It runs
  # as a system check, so a broken users.nix fails `nixos-rebuild` with the validator's message.
  usersValidated =
    pkgs.runCommand "devbox-users-validated"
      {
        nativeBuildInputs = [ cfg.schemaPackage ];
      }
      ''
        devbox-schema validate ${usersJson}
        touch $out
      '';

  imageRef = "localhost/${cfg.image.imageName or "devbox-devcontainer"}:${cfg.image.imageTag}";

  daemonConfig = {
    usersFile = "/etc/devbox/users.json";
    socketPath = cfg.socketPath;
    socketGroup = cfg.socketGroup;
    podmanSocket = "/run/podman/podman.sock";
    image = imageRef;
    stateDir = "/var/lib/devbox";
    opCommand = lib.getExe' cfg.opPackage "op";
    # Network isolation (docs/architecture.md): devboxd keeps its own nftables table.
    nftCommand = "${pkgs.nftables}/bin/nft";
    # opTokenFile is left to its default, $CREDENTIALS_DIRECTORY/op-service-account-token,
    # which LoadCredential below provides.
  }
  // cfg.settings;

  # devboxd installs its nftables isolation table itself (the set of container bridges
  # changes with every create/destroy), which needs CAP_NET_ADMIN; nothing else does.
  networkIsolation = cfg.settings.networkIsolation or true;

  users = exported.users;
  isStorePath = p: lib.hasPrefix "${builtins.storeDir}/" (toString p);
  isWsl = config.wsl.enable or false;
  # NixOS-WSL gives wsl.defaultUser uid 1000 (modules/wsl-distro.nix).
  wslDefaultUser = config.wsl.defaultUser or null;
  uid1000Owners = lib.attrNames (lib.filterAttrs (_: u: (u.uid or null) == 1000) users);
in
{
  imports = [ ./profile.nix ];

  options.services.devbox.orchestrator = {
    enable = lib.mkEnableOption "the nix-devbox orchestrator (devboxd, Podman, SSH for the users of users.nix)";

    usersFile = lib.mkOption {
      type = lib.types.path;
      example = lib.literalExpression "./users.nix";
      description = ''
        The team's users.nix (see examples/users.nix): people, UIDs, SSH keys, admin flags, the
        1Password vault and container limits. Exported with lib/export-users.nix and validated
        with `devbox-schema validate` at build time.
      '';
    };

    opServiceAccountTokenFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/keys/op-service-account-token";
      description = ''
        Path on the host of the 1Password service-account token. It is handed to devboxd with
        systemd `LoadCredential`, never copied to the Nix store: give a path as a string
        (for example from sops-nix or agenix), not a Nix path literal.
      '';
    };

    socketGroup = lib.mkOption {
      type = lib.types.str;
      default = "devbox";
      description = "Group that may connect to devboxd's socket; every user of users.nix is in it.";
    };

    socketPath = lib.mkOption {
      type = lib.types.str;
      default = "/run/devbox/devbox.sock";
      description = "devboxd's Unix socket (devbox-ctl finds it here by default).";
    };

    package = lib.mkOption {
      type = lib.types.package;
      description = "The devboxd package.";
    };

    ctlPackage = lib.mkOption {
      type = lib.types.package;
      description = "The devbox-ctl package, installed for every user.";
    };

    schemaPackage = lib.mkOption {
      type = lib.types.package;
      description = "The devbox-schema package (validates users.nix at build time).";
    };

    image = lib.mkOption {
      type = lib.types.package;
      description = ''
        The dev container image: a `dockerTools.streamLayeredImage` (the flake's
        `packages.<system>.devcontainer`). It is loaded into Podman at boot and whenever it changes.
      '';
    };

    opPackage = lib.mkPackageOption pkgs "_1password-cli" {
      extraDescription = "The `op` CLI devboxd runs to read Tailscale auth keys (unfree: allow it or give your own).";
    };

    settings = lib.mkOption {
      type = json.type;
      default = { };
      example = {
        socketPath = "/run/devbox/devbox.sock";
      };
      description = ''
        Extra keys for devboxd's JSON configuration (camelCase, see docs/options.md). devboxd
        rejects unknown keys. The module's own values come first; these override them.
      '';
    };

    loginNotices = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Show `devbox-ctl notices --login` (lifecycle notices) at interactive login.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.opServiceAccountTokenFile != null;
        message = "services.devbox.orchestrator.opServiceAccountTokenFile must be set: devboxd reads Tailscale auth keys from 1Password with it.";
      }
      {
        assertion = cfg.opServiceAccountTokenFile == null || !(isStorePath cfg.opServiceAccountTokenFile);
        message = "services.devbox.orchestrator.opServiceAccountTokenFile points into the Nix store, where every user can read it. Give the path of a file outside the store as a string (e.g. from sops-nix or agenix).";
      }
      {
        assertion =
          cfg.opServiceAccountTokenFile == null || lib.hasPrefix "/" cfg.opServiceAccountTokenFile;
        message = "services.devbox.orchestrator.opServiceAccountTokenFile must be an absolute path.";
      }
      # FR-002: keys only, no root login, no passwords. Checked here too so a later mkForce
      # elsewhere cannot quietly turn them back on.
      {
        assertion = config.services.openssh.enable;
        message = "The devbox orchestrator needs OpenSSH (services.openssh.enable).";
      }
      {
        assertion =
          config.services.openssh.settings.PasswordAuthentication == false
          && config.services.openssh.settings.KbdInteractiveAuthentication == false;
        message = "The devbox orchestrator allows SSH keys only: services.openssh.settings.PasswordAuthentication and KbdInteractiveAuthentication must be false.";
      }
      {
        assertion = config.services.openssh.settings.PermitRootLogin == "no";
        message = "The devbox orchestrator forbids root login over SSH: services.openssh.settings.PermitRootLogin must be \"no\".";
      }
      {
        assertion = config.networking.firewall.enable || isWsl;
        message = "The devbox orchestrator keeps the firewall on (networking.firewall.enable).";
      }
      {
        assertion =
          !isWsl || wslDefaultUser == null || users ? ${wslDefaultUser} || uid1000Owners == [ ];
        message = "Under WSL, NixOS-WSL gives wsl.defaultUser (\"${toString wslDefaultUser}\") uid 1000, which users.nix gives to ${lib.concatStringsSep ", " uid1000Owners}: set wsl.defaultUser to that user.";
      }
      # Podman's API socket is root-equivalent: only devboxd may use it.
      {
        assertion = !config.virtualisation.podman.dockerSocket.enable;
        message = "virtualisation.podman.dockerSocket.enable would expose Podman to the docker group; devboxd alone talks to Podman.";
      }
      {
        assertion =
          config.users.groups.podman.members == [ ]
          && lib.all (u: !(lib.elem "podman" u.extraGroups || lib.elem "docker" u.extraGroups)) (
            lib.attrValues config.users.users
          );
        message = "No user may be in the podman or docker group on a devbox orchestrator (root-equivalent); users go through devbox-ctl.";
      }
      # FR-005 and FR-043: headless, and no Syncthing on the host (it runs in the containers).
      {
        assertion = !(config.services.xserver.enable or false) && !(config.programs.hyprland.enable or false);
        message = "The devbox orchestrator is headless: no X server or Hyprland (use nixosModules.desktop on a workstation).";
      }
      {
        assertion = !(config.services.syncthing.enable or false);
        message = "Syncthing runs inside the dev containers, not on the orchestrator (services.syncthing.enable must be false).";
      }
    ];

    # Build-time validation of users.nix with the Rust validator.
    system.checks = [ usersValidated ];

    services.devbox.profile.enable = lib.mkDefault true;

    # SSH: keys only.
    services.openssh = {
      enable = true;
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "no";
      };
    };

    # On everywhere. Under WSL only as a default: NixOS-WSL leaves the firewall alone (its
    # modules/wsl-distro.nix sets no networking.firewall), and a WSL host may turn it off and
    # rely on Windows Defender Firewall without mkForce; the assertion above allows that there
    # only.
    networking.firewall.enable = if isWsl then lib.mkDefault true else true;
    # Each dev container has a network of its own (bridges podman1, podman2, ...), whose
    # aardvark-dns on the gateway is the container's resolver; the NixOS firewall would drop
    # those queries. devboxd's own nftables table already limits the bridges to exactly this.
    # "podman+" is the iptables wildcard, "podman*" the nftables one (networking.nftables).
    networking.firewall.interfaces =
      let
        dns = {
          allowedUDPPorts = [ 53 ];
          allowedTCPPorts = [ 53 ];
        };
      in
      {
        "podman+" = dns;
        "podman*" = dns;
      };

    # Users from users.nix, admins in wheel. Admins have no password, so sudo must not ask one.
    # A missing required field falls back here so that evaluation goes on and the validator (a
    # system check) reports it with its JSON path and fix, instead of Nix stopping at
    # "attribute 'description' missing" in this file.
    users.groups.${cfg.socketGroup} = { };
    users.users =
      lib.mapAttrs (name: u: {
        isNormalUser = true;
        uid = u.uid or null;
        description = u.description or "";
        extraGroups = (u.extraGroups or [ ]) ++ [ cfg.socketGroup ] ++ lib.optional (u.isAdmin or false) "wheel";
        openssh.authorizedKeys.keys = u.sshKeys or [ ];
      }) users
      // {
        devboxd = {
          isSystemUser = true;
          group = "devboxd";
          description = "nix-devbox controller";
        };
        # `--userns=auto` takes the containers' UID ranges from the "containers" entry of
        # /etc/subuid and /etc/subgid.
        containers = {
          isSystemUser = true;
          group = "containers";
          subUidRanges = [
            {
              startUid = 2147483647;
              count = 2147483648;
            }
          ];
          subGidRanges = [
            {
              startGid = 2147483647;
              count = 2147483648;
            }
          ];
        };
      };
    users.groups.devboxd = { };
    users.groups.containers = { };
    security.sudo.wheelNeedsPassword = lib.mkDefault false;

    # Podman: rootful, API socket (/run/podman/podman.sock, group podman) for devboxd only.
    virtualisation.podman.enable = true;

    environment.etc."devbox/users.json".source = usersJson;
    environment.etc."devbox/devboxd.json".source = json.generate "devboxd.json" daemonConfig;

    environment.systemPackages = [
      cfg.ctlPackage
      pkgs.git
      pkgs.gh
    ];

    # Load the image into Podman at boot and whenever it changes (the unit's command line names
    # the image's store path, so a new image restarts it on switch). A stamp file skips the
    # load when Podman already has this exact image.
    systemd.services.devbox-image-load = {
      description = "Load the nix-devbox dev container image into Podman";
      wantedBy = [ "multi-user.target" ];
      before = [ "devboxd.service" ];
      path = [ config.virtualisation.podman.package ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        StateDirectory = "devbox-image";
      };
      script = ''
        set -euo pipefail
        stamp=/var/lib/devbox-image/loaded
        want=${lib.escapeShellArg "${cfg.image} ${imageRef}"}
        if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
          && podman image exists ${lib.escapeShellArg imageRef}; then
          echo "image ${imageRef} already loaded"
          exit 0
        fi
        ${cfg.image} | podman load
        if ! podman image exists ${lib.escapeShellArg imageRef}; then
          echo "podman load did not produce ${imageRef}" >&2
          exit 1
        fi
        printf '%s' "$want" > "$stamp.tmp"
        mv "$stamp.tmp" "$stamp"
      '';
    };

    systemd.services.devboxd = {
      description = "nix-devbox controller (per-user dev containers)";
      wantedBy = [ "multi-user.target" ];
      requires = [
        "podman.socket"
        "devbox-image-load.service"
      ];
      after = [
        "network-online.target"
        "podman.socket"
        "devbox-image-load.service"
      ];
      wants = [ "network-online.target" ];
      restartTriggers = [
        config.environment.etc."devbox/devboxd.json".source
        config.environment.etc."devbox/users.json".source
      ];
      environment = {
        DEVBOXD_LOG = lib.mkDefault "info";
        # `op` keeps its configuration under HOME; give it the state directory.
        HOME = "/var/lib/devbox";
      };
      serviceConfig = {
        ExecStart = "${lib.getExe' cfg.package "devboxd"} --config /etc/devbox/devboxd.json";
        Restart = "on-failure";
        RestartSec = 2;
        # devboxd allows 64 open connections per user; keep the whole team well below the fd limit.
        LimitNOFILE = 65536;

        # A dedicated user: the podman group opens the API socket, the socket group lets it hand
        # its own socket to the users. Its only capability is CAP_NET_ADMIN, for its nftables
        # table (none with settings.networkIsolation = false).
        User = "devboxd";
        Group = "devboxd";
        SupplementaryGroups = [
          "podman"
          cfg.socketGroup
        ];
        RuntimeDirectory = "devbox";
        RuntimeDirectoryMode = "0755";
        StateDirectory = "devbox";
        StateDirectoryMode = "0700";
        LoadCredential = lib.optional (
          cfg.opServiceAccountTokenFile != null
        ) "op-service-account-token:${cfg.opServiceAccountTokenFile}";
        UMask = "0077";

        # Hardening (after nixpkgs' syncthing module). No PrivateUsers: it would hide the callers'
        # real UIDs from SO_PEERCRED, which is how devboxd identifies users.
        NoNewPrivileges = true;
        CapabilityBoundingSet = if networkIsolation then [ "CAP_NET_ADMIN" ] else "";
        AmbientCapabilities = if networkIsolation then [ "CAP_NET_ADMIN" ] else "";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RemoveIPC = true;
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
          # Go programs (op) may list interfaces over netlink.
          "AF_NETLINK"
        ];
        SystemCallArchitectures = "native";
        # Not "~@privileged": that set holds chown(2), which devboxd needs to give its socket to
        # the devbox group. Go programs (op) raise RLIMIT_NOFILE, so @resources stays allowed.
        SystemCallFilter = [
          "@system-service"
          "~@clock"
          "~@cpu-emulation"
          "~@debug"
          "~@module"
          "~@mount"
          "~@obsolete"
          "~@raw-io"
          "~@reboot"
          "~@swap"
        ];
        SystemCallErrorNumber = "EPERM";
      };
    };

    # Lifecycle notices at login (`devbox-ctl notices --login`), if the command exists; bounded
    # in time and silent on failure so a login never breaks.
    environment.loginShellInit = lib.mkIf cfg.loginNotices ''
      if [ -t 1 ] && command -v devbox-ctl >/dev/null 2>&1; then
        timeout 5 devbox-ctl notices --login 2>/dev/null || true
      fi
    '';
  };
}
