# For scripts/check-nix.sh and docs/nix-flake.md: per module file, the upstream options it sets
# that were checked against a real upstream declaration (home-manager, nix-darwin) or against
# the mirrored nixpkgs declarations (checks/support/nixos-options.nix).
{ lib, upstream }:
let
  evals = import ./upstream-evals.nix { inherit lib upstream; };
in
{
  "modules/home/devbox.nix (home-manager)" = evals.optionsSetBy {
    eval = evals.homeManager;
    file = ../../modules/home/devbox.nix;
  };
  "modules/darwin/workstation.nix (nix-darwin + home-manager)" = evals.optionsSetBy {
    eval = evals.darwin;
    file = ../../modules/darwin/workstation.nix;
  };
}
