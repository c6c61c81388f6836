# users.nix of the VM tests: alice (admin) and bob, both with nixpkgs' snake-oil test key
# (nixos/tests/ssh-keys.nix; its private half is public, so it is fit for tests only).
let
  snakeOilPublicKey = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBChdA2BmwcG49OrQN33f/sj+OHL5sJhwVl2Qim0vkUJQCry1zFpKTa9ZcDMiWaEhoAR6FGoaGI04ff7CS+1yybQ= snakeoil";
in
{
  users = {
    alice = {
      uid = 1000;
      description = "Alice Test";
      email = "alice@example.org";
      gitUser = "alice-test";
      isAdmin = true;
      sshKeys = [ snakeOilPublicKey ];
    };
    bob = {
      uid = 1001;
      description = "Bob Test";
      email = "bob@example.org";
      gitUser = "bob-test";
      sshKeys = [ snakeOilPublicKey ];
    };
  };
  containers = {
    opVault = "DevBox";
    maxPerUser = 2;
    maxGlobal = 3;
    defaultCpu = 1;
    defaultMemory = "1G";
  };
}
