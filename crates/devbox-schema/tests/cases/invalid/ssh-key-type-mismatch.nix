# expect: ssh-key-type-mismatch /users/bob/sshKeys/0
let
  t = (import ../lib.nix);
  body = builtins.elemAt (builtins.split " " t.keys.alice) 2;
in
t.withUser "bob" { sshKeys = [ "ssh-rsa ${body}" ]; }
