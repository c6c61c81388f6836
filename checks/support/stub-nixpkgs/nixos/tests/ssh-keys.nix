# Stand-in for nixpkgs' nixos/tests/ssh-keys.nix (same interface), for checks/support/vm-test-scripts.nix.
_pkgs: {
  snakeOilPrivateKey = "/stub/privkey.snakeoil";
  snakeOilPublicKey = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= snakeoil";
}
