# users.nix of the VM tests: alice (admin) and bob, each with their own key pair from nixpkgs'
# snake-oil test keys (nixos/tests/ssh-keys.nix; the private halves are public, so they are fit
# for tests only). A function of the public keys, because those keys come from the pinned
# nixpkgs (which has replaced them before): checks/vm/common.nix renders it to a users.nix file.
# One key per person: devbox-schema refuses a key listed for two users.
{ alicePublicKey, bobPublicKey }:
{
  users = {
    alice = {
      uid = 1000;
      description = "Alice Test";
      email = "alice@example.org";
      gitUser = "alice-test";
      isAdmin = true;
      sshKeys = [ alicePublicKey ];
    };
    bob = {
      uid = 1001;
      description = "Bob Test";
      email = "bob@example.org";
      gitUser = "bob-test";
      sshKeys = [ bobPublicKey ];
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
