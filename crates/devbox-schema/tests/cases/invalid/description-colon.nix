# expect: description-invalid /users/bob/description
(import ../lib.nix).withUser "bob" { description = "Bob: the builder"; }
