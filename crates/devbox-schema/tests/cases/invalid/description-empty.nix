# expect: description-empty /users/bob/description
(import ../lib.nix).withUser "bob" { description = " "; }
