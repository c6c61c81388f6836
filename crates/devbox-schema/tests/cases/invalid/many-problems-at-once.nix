# expect: uid-out-of-range /users/bob/uid
# expect: email-invalid /users/bob/email
# expect: ssh-keys-empty /users/bob/sshKeys
# expect: memory-invalid /containers/defaultMemory
# expect: max-per-user-above-global /containers/maxPerUser
let
  t = (import ../lib.nix);
in
t.withUser "bob" {
  uid = 12;
  email = "bob";
  sshKeys = [ ];
}
// {
  containers = {
    maxPerUser = 9;
    defaultMemory = "lots";
  };
}
