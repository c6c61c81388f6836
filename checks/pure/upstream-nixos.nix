# The NixOS modules evaluated with the module system of the real nixpkgs lib, `_module.check`
# on, against nixpkgs' option declarations mirrored in checks/support/nixos-options.nix (the
# nixos/ tree is not available offline) and, for the WSL branch, NixOS-WSL's REAL module tree at
# the locked revision. Every option the modules set must be declared there with a type that
# accepts our value (checks/support/upstream-evals.nix), and the cross-option rules hold:
#   - importing both nixosModules.default and nixosModules.orchestrator works;
#   - under WSL, the firewall's rules are applied (NixOS-WSL disables firewall.service, so the
#     orchestrator uses nftables.service), and a users.nix person who is not an admin cannot
#     be wsl.defaultUser (NixOS-WSL makes that user a passwordless-sudo wheel member).
{ lib, upstream, ... }:
let
  evals = import ../support/upstream-evals.nix { inherit lib upstream; };
  inherit (evals) nixos nixosPkgs;
  check = cond: msg: if cond then true else throw "upstream-nixos: ${msg}";
  failed = evals.failedAssertions;
  refusedWith =
    eval: needle:
    let
      messages = failed eval;
    in
    messages != [ ] && lib.any (lib.hasInfix needle) messages;

  # The flake's outputs with stand-in inputs; `self` carries stand-in packages.
  flake = import ../../flake.nix;
  outputs = flake.outputs (
    builtins.mapAttrs (_: _: { }) (builtins.functionArgs flake.outputs)
    // {
      nixpkgs = {
        inherit lib;
        legacyPackages = { };
      };
      self = outputs // {
        packages.x86_64-linux = {
          inherit (nixosPkgs) devboxd devbox-ctl devbox-schema;
          devcontainer = evals.orchestratorPackages.services.devbox.orchestrator.image;
        };
      };
    }
  );

  host = {
    services.devbox.orchestrator = {
      enable = true;
      usersFile = ../../examples/users.nix;
      opServiceAccountTokenFile = "/var/lib/secrets/op-service-account-token";
    };
  };
  orchestrator = extra: nixos ([ outputs.nixosModules.orchestrator host ] ++ extra);
  bare = orchestrator [ ];
  wsl =
    settings:
    orchestrator [
      evals.nixosWsl
      { wsl = { enable = true; } // settings; }
    ];
  wslAlice = wsl { defaultUser = "alice"; };

  both = nixos [
    outputs.nixosModules.default
    outputs.nixosModules.orchestrator
    host
  ];
  bothWorks = builtins.tryEval (builtins.deepSeq both.config.services.devbox.orchestrator.package.name true);

  desktop = nixos [
    ../../modules/nixos/desktop.nix
    {
      users.users.alice.isNormalUser = true;
      services.devbox.desktop = {
        enable = true;
        user = "alice";
      };
    }
  ];

  counted = file: eval: evals.optionsSetBy { inherit eval file; };

  # Issue 17: the host on the tailnet, users without keys, console bootstrap hashes.
  withUsers =
    usersFile: extra:
    nixos (
      [
        outputs.nixosModules.orchestrator
        {
          services.devbox.orchestrator = {
            enable = true;
            inherit usersFile;
            opServiceAccountTokenFile = "/var/lib/secrets/op-service-account-token";
          };
        }
      ]
      ++ extra
    );
  cases = ../../crates/devbox-schema/tests/cases/valid;
  onTailnet = withUsers (cases + "/tailscale-ssh-without-keys.nix") [
    {
      services.devbox.orchestrator.tailscale = {
        enable = true;
        loginServer = "http://headscale:8080";
      };
    }
  ];
  ts = onTailnet.config.services.tailscale;
  fetch = onTailnet.config.systemd.services.devbox-tailscale-authkey;
  hashes = withUsers (cases + "/initial-hashed-passwords.nix") [ ];
in
builtins.all (x: x) [
  # Bare metal.
  (check (failed bare == [ ]) "a correct orchestrator fails assertions: ${builtins.toJSON (failed bare)}")
  (check (builtins.length (counted ../../modules/nixos/orchestrator.nix bare) >= 25) "too few NixOS options reached by the orchestrator")
  (check (bare.config.users.users.alice.openssh.authorizedKeys.keys != [ ] && lib.elem "wheel" bare.config.users.users.alice.extraGroups) "users.nix became users (admins in wheel)")
  (check (!(lib.elem "wheel" bare.config.users.users.bob.extraGroups)) "a non-admin is not in wheel")
  (check (bare.config.networking.firewall.enable && !bare.config.networking.nftables.enable) "bare metal: the firewall on, the backend left to the host")
  (check (bare.config.services.openssh.settings.PasswordAuthentication == false) "SSH keys only")

  # Both module outputs at once.
  (check bothWorks.success "importing nixosModules.default and nixosModules.orchestrator together must work")

  # WSL, with NixOS-WSL's real modules.
  (check (failed wslAlice == [ ]) "WSL with the admin alice as default user fails assertions: ${builtins.toJSON (failed wslAlice)}")
  (check (wslAlice.config.systemd.services.firewall.enable == false) "NixOS-WSL is expected to disable firewall.service (modules/systemd/default.nix)")
  (check (wslAlice.config.networking.firewall.enable && wslAlice.config.networking.nftables.enable) "under WSL the firewall's rules must be applied through nftables.service")
  (check (refusedWith (orchestrator [
    evals.nixosWsl
    {
      wsl.enable = true;
      wsl.defaultUser = "alice";
      networking.nftables.enable = false;
    }
  ]) "firewall.service") "under WSL a firewall without nftables (rules silently not applied) must be refused")
  (check (failed (orchestrator [
    evals.nixosWsl
    {
      wsl.enable = true;
      wsl.defaultUser = "alice";
      networking.firewall.enable = false;
    }
  ]) == [ ]) "under WSL the firewall may be off (Windows Defender Firewall)")
  (check (refusedWith (wsl { defaultUser = "bob"; }) "passwordless sudo") "a non-admin of users.nix must not be wsl.defaultUser")
  (check (refusedWith (wsl { }) "uid 1000") "NixOS-WSL's own default user must not collide with users.nix's uid 1000")

  # The orchestrator on the tailnet (Tailscale SSH), users without SSH keys.
  (check (failed onTailnet == [ ]) "the orchestrator on the tailnet fails assertions: ${builtins.toJSON (failed onTailnet)}")
  (check (ts.enable && ts.authKeyFile == "/run/devbox-tailscale-authkey/authkey") "services.tailscale with the key file under /run")
  (check (!(lib.hasPrefix builtins.storeDir (toString ts.authKeyFile))) "the auth key file is not in the Nix store")
  (check (
    ts.extraUpFlags == [
      "--ssh"
      "--advertise-tags=tag:devbox-orchestrator"
      "--login-server=http://headscale:8080"
    ]
    && ts.extraSetFlags == [ "--ssh" ]
  ) "tailscale up/set flags: Tailscale SSH, the orchestrator tag, the login server: ${builtins.toJSON ts.extraUpFlags}")
  (check (
    lib.elem "tailscaled-autoconnect.service" fetch.before
    && lib.elem "devbox-tailscale-authkey.service" onTailnet.config.systemd.services.tailscaled-autoconnect.after
    && fetch.serviceConfig.LoadCredential == [ "op-service-account-token:/var/lib/secrets/op-service-account-token" ]
    && fetch.serviceConfig.UMask == "0277"
    && lib.hasInfix "op read op://DevBox/devbox-orchestrator-tailscale-authkey/password > /run/devbox-tailscale-authkey/authkey.tmp" fetch.script
  ) "the auth key is read with op before tailscaled-autoconnect, 0400, through the credential")
  (check (onTailnet.config.users.users.bob.openssh.authorizedKeys.keys == [ ] && onTailnet.config.services.openssh.settings.PasswordAuthentication == false) "a Tailscale-SSH-only user has no key, and passwords stay off")
  (check (refusedWith (withUsers (cases + "/tailscale-ssh-without-keys.nix") [ ]) "tailscale.enable is false") "users without keys need the orchestrator on the tailnet")
  # Console bootstrap hashes reach users.users, not devboxd's users.json.
  (check (lib.hasPrefix "$y$" hashes.config.users.users.alice.initialHashedPassword && lib.hasPrefix "$6$" hashes.config.users.users.bob.initialHashedPassword) "initialHashedPassword reaches users.users")
  (check (bare.config.users.users.bob.initialHashedPassword == null) "no hash, no initial password")
  (check (!(lib.hasInfix "initialHashedPassword" (builtins.toJSON hashes.config.environment.etc."devbox/users.json".source.value))) "devboxd's users.json carries no password hash")

  # Desktop and the shared profile it imports.
  (check (failed desktop == [ ]) "a correct desktop fails assertions: ${builtins.toJSON (failed desktop)}")
  (check (builtins.length (counted ../../modules/nixos/desktop.nix desktop) >= 8) "too few NixOS options reached by the desktop")
  (check (builtins.length (counted ../../modules/nixos/profile.nix desktop) >= 8) "too few NixOS options reached by the profile")
]
