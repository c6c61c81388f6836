# expect: ssh-keys-empty /users/bob/sshKeys
# No key and no Tailscale SSH: bob could never log in.
(import ../lib.nix).withoutUserField "bob" "sshKeys"
