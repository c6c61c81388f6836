# expect: password-not-a-hash /users/alice/initialHashedPassword
# An empty hash would mean console login WITHOUT a password.
(import ../lib.nix).withUser "alice" { initialHashedPassword = ""; }
