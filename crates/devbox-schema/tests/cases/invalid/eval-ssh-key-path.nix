# expect-eval-error: users.bob.sshKeys[0] is a path
(import ../lib.nix).withUser "bob" { sshKeys = [ ./bob.pub ]; }
