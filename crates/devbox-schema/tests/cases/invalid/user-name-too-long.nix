# expect: user-name-invalid /users/bob-has-a-name-longer-than-32-chars
let
  t = (import ../lib.nix);
in
t.withUsers {
  inherit (t.base.users) alice;
  bob-has-a-name-longer-than-32-chars = t.base.users.bob;
}
