# Example orchestrator host (bare metal or VM). Used with nix-devbox.nixosModules.orchestrator.
{ lib, ... }:
{
  imports = [ ../hardware/orchestrator.nix ];

  networking.hostName = "devbox";
  time.timeZone = "UTC";

  services.devbox.orchestrator = {
    enable = true;
    usersFile = ../users.nix;
    # A file outside the Nix store (put there by sops-nix, agenix or by hand, mode 0400 root).
    opServiceAccountTokenFile = "/var/lib/secrets/op-service-account-token";
  };

  # The 1Password CLI is unfree.
  nixpkgs.config.allowUnfreePredicate = pkg: lib.getName pkg == "1password-cli";

  system.stateVersion = "25.11";
}
