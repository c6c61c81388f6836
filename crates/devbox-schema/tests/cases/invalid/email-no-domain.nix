# expect: email-invalid /users/bob/email
(import ../lib.nix).withUser "bob" { email = "bob@localhost"; }
