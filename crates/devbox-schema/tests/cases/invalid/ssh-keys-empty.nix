# expect: ssh-keys-empty /users/bob/sshKeys
(import ../lib.nix).withUser "bob" { sshKeys = [ ]; }
