# expect: ssh-key-bad-base64 /users/bob/sshKeys/0
(import ../lib.nix).withUser "bob" { sshKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI!!not-base64 bob@example.invalid" ]; }
