# A valid users.nix that every invalid case starts from (see lib.nix).
let
  keys = import ./keys.nix;
in
{
  users = {
    alice = {
      uid = 1000;
      description = "Alice Example";
      email = "alice@example.org";
      gitUser = "alice-example";
      isAdmin = true;
      sshKeys = [ keys.alice ];
      extraGroups = [ "wheel" ];
    };
    bob = {
      uid = 1001;
      description = "Bob Example";
      email = "bob@example.org";
      gitUser = "bob-example";
      isAdmin = false;
      sshKeys = [ keys.bob ];
    };
  };
  containers = {
    maxPerUser = 3;
    maxGlobal = 7;
  };
}
