# Example standalone home-manager configuration with the shared profile (any Linux machine).
{ ... }:
{
  home = {
    username = "alice";
    homeDirectory = "/home/alice";
    stateVersion = "25.11";
  };

  programs.devbox = {
    enable = true;
    git = {
      userName = "Alice Example";
      userEmail = "alice@example.com";
    };
  };
}
