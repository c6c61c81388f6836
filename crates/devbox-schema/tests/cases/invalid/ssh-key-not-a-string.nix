# expect: wrong-type /users/bob/sshKeys/0
(import ../lib.nix).withUser "bob" { sshKeys = [ 42 ]; }
