# expect: ssh-key-duplicate /users/bob/sshKeys/0
let
  t = (import ../lib.nix);
in
t.withUser "bob" { sshKeys = [ t.keys.alice ]; }
