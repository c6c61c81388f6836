# expect: git-user-duplicate /users/bob/gitUser
(import ../lib.nix).withUser "bob" { gitUser = "Alice-Example"; }
