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
  # users.json is world-readable (/etc and the Nix store): a webhook URL written into users.nix
  # by mistake is left out of it (and refused by an assertion below); only an op:// reference
  # of it may pass.
  webhookSetting = exported.containers.notifyWebhook or null;
  webhookIsReference = webhookSetting == null || lib.hasPrefix "op://" (toString webhookSetting);
  checkedUsers =
    if webhookIsReference then
      exported
    else
      exported // { containers = removeAttrs exported.containers [ "notifyWebhook" ]; };
  # What the validator checks (password hashes included: their format is checked too).
  usersJson = json.generate "devbox-users.json" checkedUsers;
  # What devboxd reads from /etc: it needs no password hash.
  publishedUsers = checkedUsers // {
    users = lib.mapAttrs (_: u: removeAttrs u [ "initialHashedPassword" ]) checkedUsers.users;
  };

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

  imageRepo = "localhost/${cfg.image.imageName or "devbox-devcontainer"}";
  imageRef = "${imageRepo}:${cfg.image.imageTag}";

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
  # People who log in over Tailscale SSH only (no OpenSSH key): users.nix says so explicitly.
  tailscaleOnlyUsers = lib.attrNames (
    lib.filterAttrs (_: u: (u.sshKeys or [ ]) == [ ] && (u.tailscaleSsh or false)) users
  );
  authKeyDir = "/run/devbox-tailscale-authkey";
  authKeyFile = "${authKeyDir}/authkey";
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

    notifyWebhookFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/secrets/devbox-webhook-url";
      description = ''
        Path on the host of a file holding the URL that receives lifecycle notices (JSON POSTs).
        The URL is a secret (whoever has it can post forged notices): it is handed to devboxd
        with systemd `LoadCredential`, never copied to the Nix store or /etc. Give a path as a
        string, not a Nix path literal. (Or store it in 1Password and set users.nix
        `containers.notifyWebhook = "op://..."`.)
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

    tailscale = {
      enable = lib.mkEnableOption ''
        the orchestrator itself on the tailnet with Tailscale SSH (`ssh alice@devbox` over the
        tailnet, with the tailnet policy deciding who logs in as whom). The host's auth key is
        read from 1Password with the same service-account token as the containers' keys and
        handed to `services.tailscale.authKeyFile` as a root-only file under /run, never the
        Nix store'';

      tags = lib.mkOption {
        type = lib.types.nonEmptyListOf (lib.types.strMatching "tag:[A-Za-z0-9-]+");
        default = [ "tag:devbox-orchestrator" ];
        description = ''
          Tags the host advertises (`tailscale up --advertise-tags`). The auth key must be
          created with exactly these tags: the control plane refuses tags a key does not own.
        '';
      };

      authKeyReference = lib.mkOption {
        type = lib.types.strMatching "op://[^/]+/[^/]+/[^/]+";
        default = "op://${exported.containers.opVault}/devbox-orchestrator-tailscale-authkey/password";
        defaultText = lib.literalExpression ''"op://''${containers.opVault of users.nix}/devbox-orchestrator-tailscale-authkey/password"'';
        description = ''
          1Password reference of the host's Tailscale auth key, read with `op read` at boot
          (before tailscaled-autoconnect.service). A reusable, pre-tagged, NOT ephemeral key.
        '';
      };

      loginServer = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "https://headscale.example.org";
        description = "A self-hosted control server (headscale); null for Tailscale's.";
      };

      extraUpFlags = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ ];
        example = [ "--accept-routes" ];
        description = "More `tailscale up` flags (services.tailscale.extraUpFlags).";
      };
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
      {
        assertion = webhookIsReference;
        message = "users.nix containers.notifyWebhook holds the webhook URL itself, which every user could read in users.json; set services.devbox.orchestrator.notifyWebhookFile to a file holding it (or store it in 1Password and write its op:// reference).";
      }
      {
        assertion =
          cfg.notifyWebhookFile == null
          || (lib.hasPrefix "/" cfg.notifyWebhookFile && !(isStorePath cfg.notifyWebhookFile));
        message = "services.devbox.orchestrator.notifyWebhookFile must be an absolute path outside the Nix store (where every user can read it); give it as a string (e.g. from sops-nix or agenix).";
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
      # NixOS-WSL disables firewall.service (its modules/systemd/default.nix) but leaves
      # nftables.service alone: with networking.nftables.enable the NixOS firewall's rules are
      # loaded by nftables.service, so they hold under WSL too.
      {
        assertion = !isWsl || !config.networking.firewall.enable || config.networking.nftables.enable;
        message = "Under WSL, NixOS-WSL disables firewall.service, so networking.firewall rules would silently not be applied: keep networking.nftables.enable = true (the orchestrator's default there), or turn networking.firewall.enable off and rely on Windows Defender Firewall.";
      }
      {
        assertion =
          !isWsl || wslDefaultUser == null || users ? ${wslDefaultUser} || uid1000Owners == [ ];
        message = "Under WSL, NixOS-WSL gives wsl.defaultUser (\"${toString wslDefaultUser}\") uid 1000, which users.nix gives to ${lib.concatStringsSep ", " uid1000Owners}: make that person the default user (if they are an admin) or give them another uid.";
      }
      # NixOS-WSL puts wsl.defaultUser in wheel, and sudo there asks no password: only an admin
      # of users.nix may be that user. Anyone else gets a dedicated console account (a name
      # not in users.nix, e.g. NixOS-WSL's default "nixos": no SSH key, no password, reachable
      # only from Windows, which can open a root shell with `wsl -u root` anyway).
      {
        assertion =
          !isWsl || wslDefaultUser == null || !(users ? ${wslDefaultUser}) || (users.${wslDefaultUser}.isAdmin or false);
        message = "Under WSL, wsl.defaultUser = \"${toString wslDefaultUser}\" would make a users.nix person who is not an admin a member of wheel with passwordless sudo (NixOS-WSL's modules/wsl-distro.nix): choose an admin of users.nix, or a console account that is not in users.nix (NixOS-WSL's default \"nixos\").";
      }
      # Tailscale SSH users without a key can only log in if the host is on the tailnet.
      {
        assertion = tailscaleOnlyUsers == [ ] || cfg.tailscale.enable;
        message = "users.nix gives ${lib.concatStringsSep ", " tailscaleOnlyUsers} no SSH key and `tailscaleSsh = true`, but services.devbox.orchestrator.tailscale.enable is false: they could not log in. Enable it (the host joins the tailnet with Tailscale SSH) or give them SSH keys.";
      }
      # Podman's API socket is root-equivalent: only devboxd may use it.
      {
        assertion = !config.virtualisation.podman.dockerSocket.enable;
        message = "virtualisation.podman.dockerSocket.enable would expose Podman to the docker group; devboxd alone talks to Podman.";
      }
      {
        assertion =
          (config.users.groups.podman.members or [ ]) == [ ]
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

    # On everywhere. Under WSL only as a default, so a WSL host may turn it off and rely on
    # Windows Defender Firewall without mkForce (the assertion above allows that there only).
    networking.firewall.enable = if isWsl then lib.mkDefault true else true;
    # Under WSL the firewall's rules are applied through nftables.service (see the assertion).
    networking.nftables.enable = lib.mkIf isWsl (lib.mkDefault true);
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
      }
      # Console bootstrap only (OpenSSH refuses passwords): set when the account is created,
      # never over a password set later (with users.mutableUsers, NixOS's default).
      // lib.optionalAttrs (u ? initialHashedPassword) {
        inherit (u) initialHashedPassword;
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

    # No secret and no password hash: see publishedUsers.
    environment.etc."devbox/users.json".source = json.generate "devbox-users.json" publishedUsers;
    environment.etc."devbox/devboxd.json".source = json.generate "devboxd.json" daemonConfig;

    environment.systemPackages = [
      cfg.ctlPackage
      pkgs.git
      pkgs.gh
    ];

    # Load the image into Podman at boot and whenever it changes (the unit's command line names
    # the image's store path, so a new image restarts it on switch). A stamp file skips the
    # load when Podman already has this exact image. Then every other tag of the image's
    # repository is removed, so /var/lib/containers does not grow with each image change; an
    # image a container still uses stays (podman rmi refuses it without --force) and goes on a
    # later run, once devboxd has recreated that container.
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
        else
          ${cfg.image} | podman load
          if ! podman image exists ${lib.escapeShellArg imageRef}; then
            echo "podman load did not produce ${imageRef}" >&2
            exit 1
          fi
          printf '%s' "$want" > "$stamp.tmp"
          mv "$stamp.tmp" "$stamp"
        fi
        podman images --noheading --format '{{.Repository}}:{{.Tag}}' \
          | while IFS= read -r old; do
              if [ "''${old%:*}" = ${lib.escapeShellArg imageRepo} ] && [ "$old" != ${lib.escapeShellArg imageRef} ]; then
                if podman rmi "$old" >/dev/null; then
                  echo "removed the old image $old"
                else
                  echo "kept the old image $old (a container still uses it)"
                fi
              fi
            done
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
        # devboxd finds them as $CREDENTIALS_DIRECTORY/<name> (its defaults for opTokenFile and
        # notifyWebhookFile).
        LoadCredential =
          lib.optional (
            cfg.opServiceAccountTokenFile != null
          ) "op-service-account-token:${cfg.opServiceAccountTokenFile}"
          ++ lib.optional (cfg.notifyWebhookFile != null) "notify-webhook-url:${cfg.notifyWebhookFile}";
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

    # The host on the tailnet with Tailscale SSH (services.devbox.orchestrator.tailscale).
    # nixpkgs' tailscaled-autoconnect.service runs `tailscale up --auth-key "$(cat authKeyFile)"
    # <extraUpFlags>` while the node needs a login; tailscaled-set.service applies
    # extraSetFlags on every boot (so --ssh holds for a node that is already logged in).
    services.tailscale = lib.mkIf cfg.tailscale.enable {
      enable = true;
      authKeyFile = authKeyFile;
      extraUpFlags = [
        "--ssh"
        "--advertise-tags=${lib.concatStringsSep "," cfg.tailscale.tags}"
      ]
      ++ lib.optional (cfg.tailscale.loginServer != null) "--login-server=${cfg.tailscale.loginServer}"
      ++ cfg.tailscale.extraUpFlags;
      extraSetFlags = [ "--ssh" ];
    };
    systemd.services.tailscaled-autoconnect = lib.mkIf cfg.tailscale.enable {
      wants = [ "devbox-tailscale-authkey.service" ];
      after = [ "devbox-tailscale-authkey.service" ];
    };
    # The auth key from 1Password: `op read` with the service-account token (a credential, as
    # devboxd gets it), written 0400 root to a runtime directory (tmpfs, gone with the unit),
    # never to the Nix store or persistent disk.
    systemd.services.devbox-tailscale-authkey = lib.mkIf cfg.tailscale.enable {
      description = "Read the orchestrator's Tailscale auth key from 1Password";
      wantedBy = [ "multi-user.target" ];
      before = [ "tailscaled-autoconnect.service" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      path = [ cfg.opPackage ];
      environment.HOME = "/tmp";
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        RuntimeDirectory = "devbox-tailscale-authkey";
        RuntimeDirectoryMode = "0700";
        UMask = "0277";
        LoadCredential = lib.optional (
          cfg.opServiceAccountTokenFile != null
        ) "op-service-account-token:${cfg.opServiceAccountTokenFile}";
        PrivateTmp = true;
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        CapabilityBoundingSet = "";
      };
      script = ''
        set -euo pipefail
        OP_SERVICE_ACCOUNT_TOKEN=$(cat "$CREDENTIALS_DIRECTORY/op-service-account-token")
        export OP_SERVICE_ACCOUNT_TOKEN
        op read ${lib.escapeShellArg cfg.tailscale.authKeyReference} > ${authKeyDir}/authkey.tmp
        mv ${authKeyDir}/authkey.tmp ${authKeyFile}
        echo "Tailscale auth key read from ${cfg.tailscale.authKeyReference}"
      '';
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
