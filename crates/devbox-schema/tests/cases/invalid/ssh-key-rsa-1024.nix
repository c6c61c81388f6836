# expect: ssh-key-rsa-too-small /users/bob/sshKeys/0
let
  t = (import ../lib.nix);
in
t.withUser "bob" { sshKeys = [ t.keys.rsa1024 ]; }
