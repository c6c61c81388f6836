# expect: git-user-invalid /users/bob/gitUser
(import ../lib.nix).withUser "bob" { gitUser = "bob_example"; }
