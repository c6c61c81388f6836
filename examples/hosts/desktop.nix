# Example Hyprland workstation (bare metal). Used with nix-devbox.nixosModules.desktop.
{ ... }:
{
  imports = [ ../hardware/desktop.nix ];

  networking.hostName = "alice-desktop";
  networking.networkmanager.enable = true;
  time.timeZone = "Europe/Berlin";

  users.users.alice = {
    isNormalUser = true;
    description = "Alice Example";
    extraGroups = [
      "wheel"
      "networkmanager"
    ];
    # Set a password with `passwd` after the first boot (the greeter asks for it after logout).
  };

  services.devbox.desktop = {
    enable = true;
    user = "alice";
  };

  # Reach the dev containers over the tailnet (client only: no --ssh, no inbound access).
  services.tailscale.enable = true;

  system.stateVersion = "25.11";
}
