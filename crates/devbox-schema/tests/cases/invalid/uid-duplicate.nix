# expect: uid-duplicate /users/bob/uid
(import ../lib.nix).withUser "bob" { uid = 1000; }
