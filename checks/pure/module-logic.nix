# The modules' own logic, evaluated with the real nixpkgs lib and stand-in packages
# (checks/support/stub-pkgs.nix): what the orchestrator derives from users.nix, which assertions fire on a
# bad configuration, what devboxd's unit and config look like; the desktop's and the Mac's
# guards; the home-manager module following whichever git/zsh option names home-manager has.
{ lib, ... }:
let
  profile = import ../../profiles;
  check = cond: msg: if cond then true else throw "module-logic: ${msg}";
  contains = needle: hay: builtins.match ".*${needle}.*" hay != null;

  pkgs = import ../support/stub-pkgs.nix { inherit lib; };
  # A package of any name (devboxd, devbox-ctl, ...: this flake's own builds).
  pkg = name: (import ../support/stub-pkgs.nix { inherit lib; extraNames = [ name ]; }).${name};
  out = name: (pkg name).outPath;

  # --- orchestrator -------------------------------------------------------------------------
  orchestratorConfig =
    overrides:
    lib.recursiveUpdate {
      services.devbox.orchestrator = {
        enable = true;
        usersFile = ../../examples/users.nix;
        opServiceAccountTokenFile = "/run/secrets/op-service-account-token";
        notifyWebhookFile = null;
        socketGroup = "devbox";
        socketPath = "/run/devbox/devbox.sock";
        package = pkg "devboxd";
        ctlPackage = pkg "devbox-ctl";
        schemaPackage = pkg "devbox-schema";
        image = pkg "image" // {
          imageName = "devbox-devcontainer";
          imageTag = "0123abcd";
        };
        opPackage = pkg "op";
        settings = { };
        loginNotices = true;
      };
      services.openssh = {
        enable = true;
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = "no";
        };
      };
      networking.firewall.enable = true;
      networking.nftables.enable = false;
      virtualisation.podman = {
        dockerSocket.enable = false;
        package = pkg "podman";
      };
      users.groups.podman.members = [ ];
      users.users.alice.extraGroups = [
        "wheel"
        "devbox"
      ];
      services.xserver.enable = false;
      services.syncthing.enable = false;
    } overrides;
  orchestrator =
    overrides:
    (import ../../modules/nixos/orchestrator.nix {
      config = orchestratorConfig overrides;
      inherit lib pkgs;
    }).config;
  failing = overrides: map (a: a.message) (builtins.filter (a: !a.assertion) (orchestrator overrides).content.assertions);
  refusedWith =
    overrides: needle:
    let
      messages = failing overrides;
    in
    messages != [ ] && builtins.any (contains needle) messages;

  o = (orchestrator { }).content;
  # Everything the module writes for others to read: /etc files (users.json, devboxd.json) and
  # the units (environment, command lines, scripts). No secret may appear in any of them.
  published = c: builtins.toJSON {
    etc = lib.mapAttrs (_: f: f.source.value or f.source or f.text or null) c.environment.etc;
    units = lib.mapAttrs (_: u: {
      environment = u.environment or { };
      script = u.script or "";
      ExecStart = u.serviceConfig.ExecStart or "";
    }) c.systemd.services;
  };
  literalWebhook = {
    services.devbox.orchestrator.usersFile = ../support/users-literal-webhook.nix;
  };
  withWebhookFile = {
    services.devbox.orchestrator.notifyWebhookFile = "/run/secrets/devbox-webhook-url";
  };
  daemonConfig = o.environment.etc."devbox/devboxd.json".source.value;
  unit = o.systemd.services.devboxd.serviceConfig;
  exported = import ../../lib/export-users.nix { usersFile = ../../examples/users.nix; };

  # --- desktop --------------------------------------------------------------------------------
  desktopConfig =
    overrides:
    lib.recursiveUpdate {
      services.devbox.desktop = {
        enable = true;
        user = "alice";
        autoLogin = true;
        extraPackages = [ ];
      };
      programs.hyprland.package = pkg "Hyprland";
      users.users.alice = { };
      boot.isContainer = false;
      services.tailscale.extraUpFlags = [ ];
    } overrides;
  desktop =
    overrides:
    (import ../../modules/nixos/desktop.nix {
      config = desktopConfig overrides;
      inherit lib pkgs;
    }).config.content;
  desktopRefused = overrides: builtins.any (a: !a.assertion) (desktop overrides).assertions;
  d = desktop { };

  # --- Mac ------------------------------------------------------------------------------------
  mac =
    options: casks:
    (import ../../modules/darwin/workstation.nix {
      config.services.devbox.workstation = {
        enable = true;
        user = "alice";
        terminalApp = "Terminal";
        aerospace.extraSettings = {
          gaps.inner.horizontal = 12;
        };
        extraApps = {
          packages = [ ];
          inherit casks;
        };
      };
      inherit lib pkgs options;
    }).config.content.contents;
  macParts = mac { home-manager = { }; } [ "obsidian" ];
  macBase = builtins.head macParts;
  macHome = builtins.elemAt macParts 2;
  bindings = macBase.services.aerospace.settings.mode.main.binding;

  # --- home-manager ---------------------------------------------------------------------------
  home =
    options:
    (import ../../modules/home/devbox.nix {
      config.programs.devbox = {
        enable = true;
        extraPackages = [ (pkg "kubectl") ];
        git = {
          userName = "Alice Example";
          userEmail = null;
        };
        zsh.enable = true;
      };
      inherit lib pkgs options;
    }).config.content.contents;
  newHome = home {
    programs.git.settings = { };
    programs.zsh.initContent = { };
  };
  oldHome = home {
    programs.git = { };
    programs.zsh = { };
  };
  # Given the users.nix entry, git gets the same identity as in the person's dev containers.
  entryHome =
    git:
    (import ../../modules/home/devbox.nix {
      config.programs.devbox = {
        enable = true;
        extraPackages = [ ];
        user = {
          uid = 1001;
          description = "Alice Example";
          email = "alice@example.org";
          gitUser = "alice-gh";
          sshKeys = [ ];
        };
        inherit git;
        zsh.enable = false;
      };
      inherit lib pkgs;
      options.programs.git.settings = { };
    }).config.content.contents;

  # --- shared profile on NixOS ----------------------------------------------------------------
  nixosProfile =
    (import ../../modules/nixos/profile.nix {
      config.services.devbox.profile = {
        enable = true;
        extraPackages = [ ];
      };
      inherit lib pkgs;
    }).config.content;
in
builtins.all (x: x) [
  # Orchestrator: a correct configuration passes every assertion.
  (check (failing { } == [ ]) "a correct orchestrator configuration fails assertions: ${builtins.toJSON (failing { })}")
  # ... and each broken rule is caught with a message naming it.
  (check (refusedWith { services.openssh.settings.PasswordAuthentication = true; } "PasswordAuthentication") "password logins must be refused")
  (check (refusedWith { services.openssh.settings.KbdInteractiveAuthentication = true; } "KbdInteractiveAuthentication") "keyboard-interactive logins must be refused")
  (check (refusedWith { services.openssh.settings.PermitRootLogin = "prohibit-password"; } "PermitRootLogin") "root login must be refused")
  (check (refusedWith { services.openssh.enable = false; } "OpenSSH") "sshd must stay on")
  (check (refusedWith { networking.firewall.enable = false; } "firewall") "the firewall must stay on")
  (check (failing {
    networking.firewall.enable = false;
    wsl.enable = true;
  } == [ ]) "under WSL the firewall may be off (Windows Defender Firewall) and is not asserted")
  # On bare metal the firewall is a plain definition (a conflicting `false` is an error, only
  # mkForce gets past it, and then the assertion); under WSL only a default, so a WSL host can
  # turn it off without mkForce.
  (check (o.networking.firewall.enable == true) "the orchestrator turns the firewall on")
  (check (
    (orchestrator { wsl.enable = true; }).content.networking.firewall.enable == lib.mkDefault true
  ) "under WSL the firewall is on by default only")
  (check (refusedWith {
    wsl.enable = true;
    wsl.defaultUser = "nixos";
  } "uid 1000") "under WSL the default user must not collide with users.nix's uid 1000")
  (check (failing {
    wsl.enable = true;
    wsl.defaultUser = "alice";
    networking.nftables.enable = true;
  } == [ ]) "under WSL the users.nix admin with uid 1000 may be the default user")
  (check (refusedWith {
    wsl.enable = true;
    wsl.defaultUser = "bob";
    networking.nftables.enable = true;
  } "passwordless sudo") "under WSL a users.nix person who is not an admin may not be the default user")
  (check (refusedWith { services.devbox.orchestrator.opServiceAccountTokenFile = "${builtins.storeDir}/abc-token"; } "Nix store") "a token file in the store must be refused")
  (check (refusedWith { services.devbox.orchestrator.opServiceAccountTokenFile = null; } "must be set") "the token file is required")
  (check (refusedWith { services.devbox.orchestrator.opServiceAccountTokenFile = "secrets/token"; } "absolute") "the token path must be absolute")
  (check (refusedWith { users.users.mallory.extraGroups = [ "podman" ]; } "podman") "nobody may be in the podman group")
  # The webhook URL is a secret: a literal URL in users.nix is refused and never published;
  # the URL file goes to devboxd through LoadCredential only.
  (check (refusedWith literalWebhook "notifyWebhookFile") "a webhook URL in users.nix must be refused")
  (check (!(contains "SECRET-WEBHOOK-CANARY" (published (orchestrator literalWebhook).content))) "the webhook URL must not appear in any generated file or unit")
  (check (contains "op://DevBox/devbox-webhook/url" (published o)) "an op:// reference of the webhook may be published (it is not the secret)")
  (check (failing withWebhookFile == [ ]) "a webhook URL file is accepted")
  (check (builtins.elem "notify-webhook-url:/run/secrets/devbox-webhook-url" (orchestrator withWebhookFile).content.systemd.services.devboxd.serviceConfig.LoadCredential) "the webhook URL file is a systemd credential")
  (check (!(contains "/run/secrets/devbox-webhook-url" (published (orchestrator withWebhookFile).content))) "the webhook file path is not in the config files either (devboxd finds the credential itself)")
  (check (refusedWith { services.devbox.orchestrator.notifyWebhookFile = "${builtins.storeDir}/abc-url"; } "outside the Nix store") "a webhook file in the store must be refused")
  (check (refusedWith { virtualisation.podman.dockerSocket.enable = true; } "dockerSocket") "the docker socket must stay off")
  (check (refusedWith { services.syncthing.enable = true; } "Syncthing") "no Syncthing on the host")
  (check (refusedWith { services.xserver.enable = true; } "headless") "the orchestrator is headless")
  # Users from users.nix.
  (check (builtins.all (n: o.users.users ? ${n}) exported.derived.allUsers) "every users.nix user becomes a Unix user")
  (check (o.users.users.bob.uid == 1001 && o.users.users.bob.isNormalUser) "uid from users.nix")
  (check (o.users.users.bob.openssh.authorizedKeys.keys == exported.users.bob.sshKeys) "SSH keys from users.nix")
  # A users.nix lacking required fields still evaluates, so the validator (a system check) is the
  # one that reports them, with its JSON path and fix.
  (check (
    let
      u =
        (orchestrator {
          services.devbox.orchestrator.usersFile = ../support/users-missing-fields.nix;
        }).content;
    in
    builtins.deepSeq u.users.users.dave (
      u.users.users.dave.uid == null
      && u.users.users.dave.openssh.authorizedKeys.keys == [ ]
      && contains "devbox-schema validate" (builtins.head u.system.checks).script
    )
  ) "a users.nix missing uid, description or sshKeys must reach the validator, not stop Nix")
  (check (builtins.elem "wheel" o.users.users.alice.extraGroups && !(builtins.elem "wheel" o.users.users.bob.extraGroups)) "admins, and only admins, are in wheel")
  (check (builtins.all (n: builtins.elem "devbox" o.users.users.${n}.extraGroups) exported.derived.allUsers) "everyone is in the socket group")
  (check (o.users.users.containers.subUidRanges != [ ] && o.users.users.containers.subGidRanges != [ ]) "userns=auto needs the containers subordinate ranges")
  # devboxd's configuration follows the contract.
  (check (daemonConfig.usersFile == "/etc/devbox/users.json" && daemonConfig.socketGroup == "devbox" && daemonConfig.podmanSocket == "/run/podman/podman.sock" && daemonConfig.stateDir == "/var/lib/devbox") "devboxd.json paths")
  (check (daemonConfig.image == "localhost/devbox-devcontainer:0123abcd") "devboxd must use the loaded image's content tag")
  (check (daemonConfig.opCommand == "${out "op"}/bin/op") "opCommand is the op package's binary")
  (check (!(daemonConfig ? opTokenFile)) "the token comes from $CREDENTIALS_DIRECTORY, not a configured file")
  (check ((orchestrator { services.devbox.orchestrator.settings.readyTimeoutSecs = 99; }).content.environment.etc."devbox/devboxd.json".source.value.readyTimeoutSecs == 99) "settings extend devboxd.json")
  (check (o.environment.etc."devbox/users.json".source.value == exported) "users.json is the export of users.nix")
  (check (contains "devbox-schema validate" (builtins.head o.system.checks).script) "users.nix is validated at build time")
  # The hardened unit.
  (check (unit.LoadCredential == [ "op-service-account-token:/run/secrets/op-service-account-token" ]) "the token is passed with LoadCredential")
  (check (unit.User == "devboxd" && builtins.elem "podman" unit.SupplementaryGroups && builtins.elem "devbox" unit.SupplementaryGroups) "devboxd runs as its own user with the podman and socket groups")
  (check (daemonConfig.nftCommand == "${out "nftables"}/bin/nft") "devboxd installs its isolation rules with nftables")
  (check (unit.CapabilityBoundingSet == [ "CAP_NET_ADMIN" ] && unit.AmbientCapabilities == [ "CAP_NET_ADMIN" ]) "devboxd's only capability is CAP_NET_ADMIN, for its nftables table")
  (check ((orchestrator { services.devbox.orchestrator.settings.networkIsolation = false; }).content.systemd.services.devboxd.serviceConfig.CapabilityBoundingSet == "") "no capability at all without network isolation")
  (check (o.networking.firewall.interfaces."podman+".allowedUDPPorts == [ 53 ]) "containers reach aardvark-dns on their gateway through the NixOS firewall")
  (check (unit.NoNewPrivileges && unit.ProtectSystem == "strict" && !(unit ? PrivateUsers)) "devboxd is hardened (and keeps the callers' UIDs visible)")
  (check (unit.ExecStart == "${out "devboxd"}/bin/devboxd --config /etc/devbox/devboxd.json") "ExecStart")
  (check (!(o.systemd.services.devboxd.environment ? OP_SERVICE_ACCOUNT_TOKEN)) "no token in devboxd's environment")
  # The image loader.
  (check (contains "${out "image"} [|] podman load" o.systemd.services.devbox-image-load.script && contains "already loaded" o.systemd.services.devbox-image-load.script) "the loader pipes the image into podman load and skips an unchanged image")
  # ... and removes the other tags of the image's repository (old images), keeping ones in use.
  (check (
    contains "podman rmi \"[$]old\"" o.systemd.services.devbox-image-load.script
    && contains "= localhost/devbox-devcontainer ] && \\[ \"[$]old\" != localhost/devbox-devcontainer:0123abcd ]" o.systemd.services.devbox-image-load.script
  ) "the loader removes older images of the same repository, never the one it loaded")
  (check (contains "devbox-ctl notices --login" o.environment.loginShellInit.content && contains "[|][|] true" o.environment.loginShellInit.content) "the login notice hook never fails a login")

  # Desktop.
  (check (!(desktopRefused { })) "a correct desktop passes its assertions")
  (check (desktopRefused { services.openssh.enable = true; }) "sshd on the desktop must be refused")
  (check (desktopRefused { services.xrdp.enable = true; }) "xrdp on the desktop must be refused")
  (check (desktopRefused { services.tailscale.extraUpFlags = [ "--ssh" ]; }) "Tailscale SSH on the desktop must be refused")
  (check (desktopRefused { wsl.enable = true; }) "the desktop is refused under WSL")
  (check (desktopRefused { services.devbox.desktop.user = "nobody-here"; }) "the desktop user must exist")
  (check (d.services.greetd.settings.initial_session == {
    command = "${out "Hyprland"}/bin/Hyprland";
    user = "alice";
  }) "greetd boots straight into Hyprland for the user")
  (check (contains "tuigreet.*--cmd ${out "Hyprland"}/bin/Hyprland" d.services.greetd.settings.default_session.command) "the greeter falls back to tuigreet starting Hyprland")
  (check (!((desktop { services.devbox.desktop.autoLogin = false; }).services.greetd.settings ? initial_session)) "autoLogin = false keeps the greeter")

  # Mac.
  (check (builtins.all (w: bindings ? "alt-${toString w}" && bindings ? "alt-shift-${toString w}") (lib.range 1 9)) "Aerospace workspace hotkeys 1..9")
  (check (bindings.alt-h == "focus left" && bindings.alt-enter == "exec-and-forget open -na Terminal") "Aerospace focus and terminal hotkeys")
  (check (macBase.services.aerospace.settings.gaps.inner.horizontal == 12) "extraSettings are merged")
  (check ((builtins.elemAt macParts 1).content.homebrew.casks == [ "obsidian" ]) "the casks hook feeds homebrew")
  (check (!(builtins.elemAt (mac { home-manager = { }; } [ ]) 1).condition) "no casks, no homebrew")
  (check (macHome.home-manager.users.alice.imports == [ ../../modules/home/devbox.nix ]) "the Mac gets the shared profile through home-manager")
  (check (builtins.any (a: !a.assertion && contains "home-manager" a.message) (builtins.head (mac { } [ ])).assertions) "without home-manager the Mac module says what to import")
  (check (builtins.elemAt (mac { } [ ]) 2 == { }) "without home-manager no home-manager option is set")
  (check (builtins.any (a: !a.assertion) (builtins.head (import ../../modules/darwin/workstation.nix {
    config.services.devbox.workstation = {
      enable = true;
      user = "alice";
      terminalApp = "Terminal";
      aerospace.extraSettings = { };
      extraApps = {
        packages = [ ];
        casks = [ ];
      };
    };
    config.services.openssh.enable = true;
    inherit lib pkgs;
    options.home-manager = { };
  }).config.content.contents).assertions) "sshd on the Mac must be refused")

  # home-manager module.
  (check ((builtins.head newHome).home.packages == profile.packagesFor pkgs ++ [ (pkg "kubectl") ]) "home.packages is the shared tool list plus extras")
  (check ((builtins.elemAt newHome 1).programs.git.settings.user == { name = "Alice Example"; }) "git identity (null fields left out) in programs.git.settings")
  (check ((builtins.elemAt newHome 1).programs.git.settings.init.defaultBranch == "main") "the shared git config in programs.git.settings")
  (check (
    let
      s = (builtins.elemAt (entryHome { userName = null; userEmail = null; }) 1).programs.git.settings;
    in
    s.user == { name = "Alice Example"; email = "alice@example.org"; } && s.github.user == "alice-gh"
  ) "the users.nix entry sets git's identity (name, email, github.user)")
  (check (
    (builtins.elemAt (entryHome { userName = "A. E."; userEmail = null; }) 1).programs.git.settings.user
    == { name = "A. E."; email = "alice@example.org"; }
  ) "git.userName overrides the entry's description")
  (check ((builtins.elemAt oldHome 1) ? programs && (builtins.elemAt oldHome 1).programs.git ? extraConfig) "older home-manager: programs.git.extraConfig")
  (check ((builtins.elemAt (builtins.elemAt newHome 2).content.contents 1).programs.zsh.initContent == profile.shell.interactiveInit) "zsh init through initContent")
  (check ((builtins.elemAt (builtins.elemAt oldHome 2).content.contents 1).programs.zsh.initExtra == profile.shell.interactiveInit) "older home-manager: zsh initExtra")

  # Shared profile on NixOS.
  (check (nixosProfile.environment.systemPackages == profile.packagesFor pkgs) "the NixOS profile installs the shared tool list")
  (check (nixosProfile.programs.git.config == profile.git && nixosProfile.environment.shellAliases == profile.shell.aliases) "the NixOS profile carries the shared git config and aliases")
]
