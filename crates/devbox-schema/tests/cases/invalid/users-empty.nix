# expect: users-empty /users
(import ../lib.nix).withUsers { }
