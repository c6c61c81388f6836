# expect: wrong-type /users/bob/sshKeys
let
  t = (import ../lib.nix);
in
t.withUser "bob" { sshKeys = t.keys.bob; }
