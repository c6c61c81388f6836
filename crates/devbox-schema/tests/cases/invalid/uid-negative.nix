# expect: uid-out-of-range /users/bob/uid
(import ../lib.nix).withUser "bob" { uid = -1; }
