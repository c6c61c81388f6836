# expect: ssh-keys-empty /users/bob/sshKeys
# Tailscale SSH said no explicitly, and no key: bob could never log in.
(import ../lib.nix).withUser "bob" {
  sshKeys = [ ];
  tailscaleSsh = false;
}
