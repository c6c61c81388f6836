# expect: user-name-reserved /users/root
let
  t = (import ../lib.nix);
in
t.withUsers {
  inherit (t.base.users) alice;
  root = t.base.users.bob;
}
