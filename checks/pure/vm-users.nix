# The VM tests' users.nix (checks/vm/users.nix, rendered by checks/vm/common.nix with nixpkgs'
# snake-oil keys) is one devbox-schema accepts where Nix can tell: it exports, no SSH key is
# listed for two users (the validator's ssh-key-duplicate rule, which once failed every VM test's
# build through system.checks), and it has the users, UIDs and admin flags the test scripts assert.
let
  keys = import ../support/stub-nixpkgs/nixos/tests/ssh-keys.nix { };
  users = import ../vm/users.nix {
    alicePublicKey = keys.snakeOilPublicKey;
    bobPublicKey = keys.snakeOilEd25519PublicKey;
  };
  exported = import ../../lib/export-users.nix { inherit users; };
  check = cond: msg: if cond then true else throw "vm-users: ${msg}";
  allKeys = builtins.concatLists (map (u: u.sshKeys) (builtins.attrValues exported.users));
  unique = l: builtins.foldl' (acc: k: if builtins.elem k acc then acc else acc ++ [ k ]) [ ] l;
  common = builtins.readFile ../vm/common.nix;
in
builtins.all (x: x) [
  (check (builtins.attrNames exported.users == [
    "alice"
    "bob"
  ]) "the VM tests expect the users alice and bob")
  (check (allKeys != [ ] && unique allKeys == allKeys) "an SSH key is listed for two users; devbox-schema refuses that (ssh-key-duplicate)")
  (check (exported.users.alice.uid == 1000 && exported.users.alice.isAdmin) "alice must be the uid-1000 admin")
  (check (exported.users.bob.uid == 1001 && !(exported.users.bob.isAdmin or false)) "bob must be uid 1001 and no admin")
  # The two public keys come from different pairs of ssh-keys.nix.
  (check (
    builtins.match ".*bobPublicKey = snakeOil.snakeOilEd25519PublicKey;.*" common != null
    && builtins.match ".*alicePublicKey = snakeOil.snakeOilPublicKey;.*" common != null
  ) "checks/vm/common.nix must give alice and bob different snake-oil key pairs")
]
