# Exports a consumer's users.nix as the JSON that `devbox-schema validate` checks and `devboxd`
# reads: the consumer's `users` and `containers` (defaults filled in) plus `derived` (user and
# admin names, 1Password references, Tailscale tags), so nobody maintains derived lists by hand.
#
#   nix-instantiate --eval --strict --json lib/export-users.nix --arg usersFile ./users.nix \
#     | devbox-schema validate -
#
# From Nix (e.g. a NixOS module): import ./export-users.nix { users = import ./users.nix; }
#
# Pure Nix, builtins only, so it evaluates anywhere. Problems that stop the export itself (no
# `users`, a user that is not an attribute set, a function or path where data belongs) fail here
# with a message naming the place; everything else passes through for the validator to report
# with its JSON path.
{
  # Path of the users.nix file.
  usersFile ? null,
  # Or the users.nix value itself: { users = { ... }; containers = { ... }; }.
  users ? null,
}:
let
  naming = import ./naming.nix;
  inherit (builtins)
    attrNames
    elemAt
    filter
    genList
    isAttrs
    isFunction
    isList
    isPath
    isString
    length
    mapAttrs
    pathExists
    removeAttrs
    typeOf
    ;

  fail = msg: throw "users.nix: ${msg}";

  # "a list", "an attribute set", ... for messages.
  kind =
    v:
    {
      set = "an attribute set";
      lambda = "a function";
      list = "a list";
      string = "a string";
      int = "a whole number";
      float = "a number";
      bool = "a boolean";
      null = "null";
      path = "a path";
    }
    .${typeOf v} or (typeOf v);

  # users.nix holds plain data: refuse functions and paths with the place they were found
  # (toJSON would otherwise fail without saying where, or try to copy the path to the store).
  plain =
    where: v:
    if isFunction v then
      fail "${where} is a function; users.nix holds plain data only (strings, numbers, booleans, lists, attribute sets)"
    else if isPath v then
      fail "${where} is a path; write the value itself as a string (e.g. the public key line, not ./alice.pub)"
    else if isAttrs v then
      mapAttrs (n: plain "${where}.${n}") v
    else if isList v then
      genList (i: plain "${where}[${toString i}]" (elemAt v i)) (length v)
    else
      v;

  source =
    if usersFile != null && users != null then
      fail "pass either usersFile or users to lib/export-users.nix, not both"
    else if users != null then
      users
    else if usersFile == null then
      fail "nothing to export: call it with --arg usersFile ./users.nix (or pass the users.nix value as `users`)"
    else if !(isPath usersFile || isString usersFile) then
      fail "usersFile must be a path such as ./users.nix, but it is ${kind usersFile}"
    else if isString usersFile && builtins.substring 0 1 usersFile != "/" then
      fail "usersFile \"${usersFile}\" is a relative string; pass a Nix path (--arg usersFile ./users.nix, not --argstr) or an absolute path"
    else if !(pathExists usersFile) then
      fail "the file ${toString usersFile} does not exist; pass the path of your users.nix"
    else
      import usersFile;

  shapeHint = "{ users = { alice = { uid = 1000; description = \"...\"; email = \"...\"; gitUser = \"...\"; isAdmin = true; sshKeys = [ \"ssh-ed25519 ...\" ]; }; }; containers = { ... }; }";

  top =
    if !(isAttrs source) then
      fail "the file must evaluate to an attribute set ${shapeHint}, but it is ${kind source}"
    else if !(source ? users) then
      fail "the attribute `users` is missing; the file must look like ${shapeHint}"
    else if source ? derived then
      fail "`derived` is computed by lib/export-users.nix; remove it from users.nix"
    else
      source;

  userSet =
    if isAttrs top.users then
      top.users
    else
      fail "`users` must be an attribute set of people keyed by user name (users.alice = { ... }), but it is ${kind top.users}";

  exportedUsers = mapAttrs (
    name: user:
    if isAttrs user then
      plain "users.${name}" (
        {
          isAdmin = false;
          tailscaleSsh = false;
          extraGroups = [ ];
        }
        // user
      )
    else
      fail "users.${name} must be an attribute set { uid; description; email; gitUser; isAdmin; sshKeys; }, but it is ${kind user}"
  ) userSet;

  containers =
    let
      given = top.containers or { };
    in
    if isAttrs given then
      plain "containers" (naming.containerDefaults // given)
    else
      fail "`containers` must be an attribute set of limits (containers = { maxPerUser = 5; ... }), but it is ${kind given}";

  # null: no 1Password on this orchestrator; users supply their keys (`--auth-key-stdin`).
  vault =
    if containers.opVault == null || isString containers.opVault then
      containers.opVault
    else
      fail "containers.opVault must be a string (the name of the 1Password vault) or null (no 1Password: users supply their Tailscale keys with --auth-key-stdin), but it is ${kind containers.opVault}";

  names = attrNames userSet;
in
mapAttrs plain (removeAttrs top [
  "users"
  "containers"
])
// {
  users = exportedUsers;
  inherit containers;
  derived = {
    allUsers = names;
    adminUsers = filter (n: (exportedUsers.${n}.isAdmin or false) == true) names;
    perUser = mapAttrs (
      n: _:
      {
        tailscaleTags = naming.tailscaleTags n;
      }
      // (if vault == null then { } else { opReference = naming.opReference vault n; })
    ) userSet;
  };
}
