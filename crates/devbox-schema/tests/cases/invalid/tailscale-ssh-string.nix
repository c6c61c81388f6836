# expect: wrong-type /users/bob/tailscaleSsh
# expect: ssh-keys-empty /users/bob/sshKeys
(import ../lib.nix).withUser "bob" {
  sshKeys = [ ];
  tailscaleSsh = "yes";
}
