# Example orchestrator on Windows (WSL2 with NixOS-WSL). Used with nixos-wsl.nixosModules.default
# and nix-devbox.nixosModules.orchestrator. See docs/nix-wsl.md for what differs from bare metal
# (the firewall is not applied under WSL; SSH is reached through Windows' port forwarding or
# WSL's mirrored networking).
{ lib, ... }:
{
  wsl = {
    enable = true;
    # The user `wsl -d NixOS` logs in as. NixOS-WSL gives it uid 1000, so it must be the
    # users.nix user with uid 1000 (an admin here) or a name whose uid 1000 is free; the
    # orchestrator asserts this. Everyone else logs in over SSH as on any orchestrator.
    defaultUser = "alice";
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
