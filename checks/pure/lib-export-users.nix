# lib/export-users.nix on the example and on small inline files: defaults filled, derived names,
# references and tags, both ways of calling it, and a clean failure (not a crash) for malformed
# input. The full set of broken files, with their messages and the Rust validator behind the
# export, is in crates/devbox-schema/tests/ (nix_export_cases.rs).
let
  exportUsers = import ../../lib/export-users.nix;
  example = exportUsers { usersFile = ../../examples/users.nix; };
  expect =
    name: got: want:
    if got == want then
      true
    else
      throw "lib-export-users: ${name}: got ${builtins.toJSON got}, want ${builtins.toJSON want}";
  # Whether exporting `users` stops with an error (deepSeq forces the whole JSON value).
  fails =
    users:
    let
      out = exportUsers { inherit users; };
    in
    !(builtins.tryEval (builtins.deepSeq out out)).success;
  person = {
    uid = 1000;
    description = "P";
    email = "p@example.org";
    gitUser = "p";
    sshKeys = [ ];
  };
in
builtins.all (x: x) [
  (expect "allUsers" example.derived.allUsers [
    "alice"
    "bob"
    "carol"
  ])
  (expect "adminUsers" example.derived.adminUsers [ "alice" ])
  (expect "perUser.bob" example.derived.perUser.bob {
    opReference = "op://DevBox/bob-tailscale-authkey/password";
    tailscaleTags = [
      "tag:devcontainer"
      "tag:bob-container"
    ];
  })
  (expect "extraGroups default" example.users.bob.extraGroups [ ])
  (expect "example users are passed through" example.users.alice.uid 1000)
  (expect "top-level keys" (builtins.attrNames example) [
    "containers"
    "derived"
    "users"
  ])
  (expect "the users argument equals usersFile" (exportUsers {
    users = import ../../examples/users.nix;
  }) example)
  (expect "defaults for an omitted containers section"
    (exportUsers {
      users.users.p = person;
    }).containers
    (import ../../lib/naming.nix).containerDefaults
  )
  (expect "isAdmin defaults to false"
    (exportUsers {
      users.users.p = person;
    }).users.p.isAdmin
    false
  )
  (expect "a vault name flows into the references"
    (exportUsers {
      users = {
        users.p = person;
        containers.opVault = "Team";
      };
    }).derived.perUser.p.opReference
    "op://Team/p-tailscale-authkey/password"
  )
  (expect "unknown attributes pass through for the validator to name"
    (exportUsers {
      users = {
        users.p = person // {
          shell = "zsh";
        };
        extra = 1;
      };
    })
    .users.p.shell
    "zsh"
  )
  (expect "missing users fails" (fails { containers = { }; }) true)
  (expect "users as a list fails" (fails { users = [ ]; }) true)
  (expect "a user as a string fails" (fails { users.p = "P"; }) true)
  (expect "a path value fails" (fails {
    users.p = person // {
      sshKeys = [ ../../examples/users.nix ];
    };
  }) true)
  (expect "a non-string vault fails" (fails {
    users.p = person;
    containers.opVault = 1;
  }) true)
  (expect "a valid minimal file does not fail" (fails { users.p = person; }) false)
]
