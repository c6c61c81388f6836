# expect: missing-field /users/bob/email
(import ../lib.nix).withoutUserField "bob" "email"
