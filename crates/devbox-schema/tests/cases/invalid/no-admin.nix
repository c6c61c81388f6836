# expect: no-admin /users
(import ../lib.nix).withUser "alice" { isAdmin = false; }
