# expect: password-not-a-hash /users/alice/initialHashedPassword
# MD5-crypt ($1$) is not accepted: yescrypt, SHA-512 or bcrypt only.
(import ../lib.nix).withUser "alice" { initialHashedPassword = "$1$salt$qJH7.N4xYta3aEG/dfqo/0"; }
