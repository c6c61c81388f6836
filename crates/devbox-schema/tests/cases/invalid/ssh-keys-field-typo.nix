# expect: unknown-field /users/bob/sshkeys
# expect: missing-field /users/bob/sshKeys
let
  t = (import ../lib.nix);
in
t.withUsers (
  t.base.users
  // {
    bob = removeAttrs t.base.users.bob [ "sshKeys" ] // { sshkeys = [ t.keys.bob ]; };
  }
)
