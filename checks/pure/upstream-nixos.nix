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

  # Desktop and the shared profile it imports.
  (check (failed desktop == [ ]) "a correct desktop fails assertions: ${builtins.toJSON (failed desktop)}")
  (check (builtins.length (counted ../../modules/nixos/desktop.nix desktop) >= 8) "too few NixOS options reached by the desktop")
  (check (builtins.length (counted ../../modules/nixos/profile.nix desktop) >= 8) "too few NixOS options reached by the profile")
]
