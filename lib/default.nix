# The flake's `lib` output: pure helpers that evaluate without nixpkgs.
#
#   nix-devbox.lib.exportUsers ./users.nix        -> the UsersFile JSON model (attribute set)
#   nix-devbox.lib.naming.opReference "DevBox" "alice"
#   nix-devbox.lib.profile.toolNames              -> the shared CLI tool list
#   nix-devbox.lib.mkDevcontainerImage { pkgs; devbox-entrypoint; extraPackages = [ ... ]; }
{
  naming = import ./naming.nix;

  # users.nix (a path) -> the exported model devboxd and devbox-schema read.
  exportUsers = usersFile: import ./export-users.nix { inherit usersFile; };

  # The same from the users.nix value itself.
  exportUsersValue = users: import ./export-users.nix { inherit users; };

  # The shared profile: tools as data, shell/git/editor configuration, packagesFor.
  profile = import ../profiles;

  # The dev container image with a team's own additions (see images/devcontainer.nix for the
  # arguments). Needs pkgs, so call it from a flake's packages.
  mkDevcontainerImage = args: import ../images/devcontainer.nix args;
}
