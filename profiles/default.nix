# The shared profile: one definition of the CLI tool set and of shell, git and editor
# configuration, read by the image (images/devcontainer.nix), the home-manager module
# (modules/home/devbox.nix), and through it the desktop and the Mac.
#
# Pure: importing this file needs no nixpkgs. `packagesFor pkgs` turns the tool list into
# packages once a package set is at hand.
let
  tools = import ./cli-tools.nix;
in
rec {
  inherit tools;

  # nixpkgs attribute names, in list order.
  toolNames = map (t: t.attr) tools;

  # Programs the tools put on PATH (entries whose package provides no program are left out).
  toolPrograms = builtins.filter (b: b != null) (map (t: t.bin) tools);

  shell = import ./shell.nix;
  git = import ./git.nix;
  editor = import ./editor.nix;

  # The tool list as packages of `pkgs`. A name missing from `pkgs` fails with a message that
  # says which one and where the list lives.
  packagesFor =
    pkgs:
    map (
      name:
      if builtins.hasAttr name pkgs then
        pkgs.${name}
      else
        throw "nix-devbox: the shared tool list (profiles/cli-tools.nix) names `${name}`, which this nixpkgs does not have"
    ) toolNames;
}
