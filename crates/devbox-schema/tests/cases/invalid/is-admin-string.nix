# expect: wrong-type /users/bob/isAdmin
(import ../lib.nix).withUser "bob" { isAdmin = "yes"; }
