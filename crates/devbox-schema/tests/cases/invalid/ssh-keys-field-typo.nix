# expect: unknown-field /users/bob/sshkeys
# expect: ssh-keys-empty /users/bob/sshKeys
let
  t = (import ../lib.nix);
in
t.withUsers (
  t.base.users
  // {
    bob = removeAttrs t.base.users.bob [ "sshKeys" ] // { sshkeys = [ t.keys.bob ]; };
  }
)
