# Example Mac. Used with home-manager.darwinModules.home-manager and
# nix-devbox.darwinModules.workstation; switch with `darwin-rebuild switch --flake .#mac`.
{ ... }:
{
  services.devbox.workstation = {
    enable = true;
    user = "alice";
    terminalApp = "Terminal";
    # The hook for extra applications: Homebrew casks (Homebrew must be installed) or nixpkgs
    # packages in extraApps.packages.
    extraApps.casks = [ "obsidian" ];
  };

  home-manager.users.alice = {
    home.stateVersion = "25.11";
    programs.devbox.git = {
      userName = "Alice Example";
      userEmail = "alice@example.com";
    };
  };

  system.stateVersion = 6;
}
