# expect: ssh-key-unknown-type /users/bob/sshKeys/0
let
  t = (import ../lib.nix);
in
t.withUser "bob" { sshKeys = [ "from=\"10.0.0.0/8\" ${t.keys.bob}" ]; }
