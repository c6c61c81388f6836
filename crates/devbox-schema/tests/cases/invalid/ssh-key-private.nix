# expect: ssh-key-private /users/bob/sshKeys/0
(import ../lib.nix).withUser "bob" {
  sshKeys = [
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"
  ];
}
