# The Python test scripts of checks/vm/*.nix, rendered without nixpkgs (runNixOSTest returns its
# arguments, packages are stand-ins, `lib` is the real nixpkgs lib), so scripts/check-nix.sh can
# at least compile them with python3 on machines that cannot run the VM tests.
{ lib }:
let
  pkgs = import ./stub-pkgs.nix {
    inherit lib;
    path = toString ./stub-nixpkgs;
  }
  // {
    testers.runNixOSTest = args: args;
  };
  self = { };
  nodes = {
    devbox.services.devbox.orchestrator.image = {
      imageName = "devbox-devcontainer";
      imageTag = "0123abcd";
    };
    headscale.networking.primaryIPAddress = "192.168.1.3";
  };
  render =
    file:
    let
      test = import file { inherit pkgs self; };
    in
    if builtins.isFunction test.testScript then test.testScript { inherit nodes; } else test.testScript;
in
{
  orchestrator-boot = render ../vm/orchestrator-boot.nix;
  container-lifecycle = render ../vm/container-lifecycle.nix;
  reboot-restores = render ../vm/reboot-restores.nix;
  orchestrator-tailscale-ssh = render ../vm/orchestrator-tailscale-ssh.nix;
}
