# Example orchestrator on Windows (WSL2 with NixOS-WSL). Used with nixos-wsl.nixosModules.default
# and nix-devbox.nixosModules.orchestrator. See docs/nix-wsl.md for what differs from bare metal
# (the firewall is not applied under WSL; SSH is reached through Windows' port forwarding or
# WSL's mirrored networking).
{ lib, ... }:
{
  wsl = {
    enable = true;
    # The Windows-side login user of the distribution; the team's users come from users.nix
    # and log in over SSH like on any orchestrator.
    defaultUser = "nixos";
    wslConf.network.hostname = "devbox-wsl";
  };

  networking.hostName = "devbox-wsl";
  time.timeZone = "UTC";

  services.devbox.orchestrator = {
    enable = true;
    usersFile = ../users.nix;
    opServiceAccountTokenFile = "/var/lib/secrets/op-service-account-token";
  };

  nixpkgs.config.allowUnfreePredicate = pkg: lib.getName pkg == "1password-cli";

  system.stateVersion = "25.11";
}
