# For scripts/check-nix.sh and docs/nix-flake.md: per module file, the upstream options it sets
# that were checked against a real upstream declaration (home-manager, nix-darwin) or against
# the mirrored nixpkgs declarations (checks/support/nixos-options.nix).
{ lib, upstream }:
let
  evals = import ./upstream-evals.nix { inherit lib upstream; };
  orchestrator = evals.nixos [
    ../../modules/nixos/orchestrator.nix
    evals.orchestratorPackages
    {
      services.devbox.orchestrator = {
        enable = true;
        # A users.nix with console hashes, and the host on the tailnet: every option reached.
        usersFile = ../../crates/devbox-schema/tests/cases/valid/initial-hashed-passwords.nix;
        opServiceAccountTokenFile = "/run/keys/op-service-account-token";
        tailscale.enable = true;
      };
    }
  ];
  desktop = evals.nixos [
    ../../modules/nixos/desktop.nix
    {
      users.users.alice.isNormalUser = true;
      services.devbox.desktop = {
        enable = true;
        user = "alice";
      };
    }
  ];
in
{
  "modules/nixos/orchestrator.nix (mirrored nixpkgs declarations)" = evals.optionsSetBy {
    eval = orchestrator;
    file = ../../modules/nixos/orchestrator.nix;
  };
  "modules/nixos/desktop.nix (mirrored nixpkgs declarations)" = evals.optionsSetBy {
    eval = desktop;
    file = ../../modules/nixos/desktop.nix;
  };
  "modules/nixos/profile.nix (mirrored nixpkgs declarations)" = evals.optionsSetBy {
    eval = desktop;
    file = ../../modules/nixos/profile.nix;
  };
  "modules/home/devbox.nix (home-manager)" = evals.optionsSetBy {
    eval = evals.homeManager;
    file = ../../modules/home/devbox.nix;
  };
  "modules/darwin/workstation.nix (nix-darwin + home-manager)" = evals.optionsSetBy {
    eval = evals.darwin;
    file = ../../modules/darwin/workstation.nix;
  };
}
