# expect: ssh-key-missing-body /users/bob/sshKeys/0
(import ../lib.nix).withUser "bob" { sshKeys = [ "ssh-ed25519" ]; }
