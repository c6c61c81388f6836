# expect: ssh-key-unknown-type /users/bob/sshKeys/0
(import ../lib.nix).withUser "bob" { sshKeys = [ "ssh-dss AAAAB3NzaC1kc3MAAACBAP bob@example.invalid" ]; }
