# expect: ssh-key-duplicate /users/bob/sshKeys/1
let
  t = (import ../lib.nix);
in
t.withUser "bob" {
  sshKeys = [
    t.keys.bob
    "${t.keys.bob} (copy)"
  ];
}
