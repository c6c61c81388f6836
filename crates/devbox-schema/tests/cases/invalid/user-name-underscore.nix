# expect: user-name-invalid /users/bob_smith
let
  t = (import ../lib.nix);
in
t.withUsers {
  inherit (t.base.users) alice;
  bob_smith = t.base.users.bob;
}
