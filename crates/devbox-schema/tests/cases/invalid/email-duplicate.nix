# expect: email-duplicate /users/bob/email
(import ../lib.nix).withUser "bob" { email = "Alice@Example.org"; }
