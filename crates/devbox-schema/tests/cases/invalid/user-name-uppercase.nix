# expect: user-name-invalid /users/Bob
let
  t = (import ../lib.nix);
in
t.withUsers {
  inherit (t.base.users) alice;
  Bob = t.base.users.bob;
}
