# Stand-in for nixpkgs' nixos/tests/ssh-keys.nix (same interface: an ECDSA and an Ed25519 pair),
# for checks/support/vm-test-scripts.nix and checks/pure/vm-users.nix.
_pkgs: {
  snakeOilPrivateKey = "/stub/privkey.snakeoil";
  snakeOilPublicKey = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= snakeoil";
  snakeOilEd25519PrivateKey = "/stub/privkey.snakeoil-ed25519";
  snakeOilEd25519PublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== snakeoil";
}
