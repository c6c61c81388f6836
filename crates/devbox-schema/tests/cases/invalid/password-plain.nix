# expect: password-not-a-hash /users/bob/initialHashedPassword
# A plain password where a crypt hash belongs (refused; the value is never echoed).
(import ../lib.nix).withUser "bob" { initialHashedPassword = "CANARY-plain-password"; }
