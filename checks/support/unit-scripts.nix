# The shell scripts of the orchestrator's own systemd units, rendered with the real nixpkgs lib
# and stand-in packages, so scripts/check-nix.sh can `bash -n` them (a quoting slip in a Nix
# string otherwise only shows on a NixOS host).
{ lib, upstream }:
let
  evals = import ./upstream-evals.nix { inherit lib upstream; };
  eval = evals.nixos [
    ../../modules/nixos/orchestrator.nix
    evals.orchestratorPackages
    {
      services.devbox.orchestrator = {
        enable = true;
        usersFile = ../../examples/users.nix;
        opServiceAccountTokenFile = "/run/keys/op-service-account-token";
        tailscale.enable = true;
      };
    }
  ];
  services = eval.config.systemd.services;
in
{
  devbox-image-load = services.devbox-image-load.script;
  devbox-tailscale-authkey = services.devbox-tailscale-authkey.script;
  login-notices = eval.config.environment.loginShellInit;
}
