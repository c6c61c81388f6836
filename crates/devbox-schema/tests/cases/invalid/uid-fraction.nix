# expect: wrong-type /users/bob/uid
(import ../lib.nix).withUser "bob" { uid = 1001.5; }
