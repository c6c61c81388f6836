# Helpers for the invalid cases: each case is the valid base.nix with one thing broken.
let
  base = import ./base.nix;
in
{
  inherit base;
  keys = import ./keys.nix;
  # base with users.NAME updated by ATTRS.
  withUser =
    name: attrs:
    base
    // {
      users = base.users // {
        ${name} = base.users.${name} // attrs;
      };
    };
  # base with FIELD removed from users.NAME.
  withoutUserField =
    name: field:
    base
    // {
      users = base.users // {
        ${name} = removeAttrs base.users.${name} [ field ];
      };
    };
  # base with `users` replaced by USERS.
  withUsers = users: base // { inherit users; };
  # base with `containers` updated by ATTRS.
  withContainers = attrs: base // { containers = base.containers // attrs; };
}
