# Valid: bob reaches the orchestrator over Tailscale SSH only (no OpenSSH key), carol the
# same with `sshKeys` left out.
let
  t = import ../lib.nix;
in
t.withUsers (
  t.base.users
  // {
    bob = t.base.users.bob // {
      sshKeys = [ ];
      tailscaleSsh = true;
    };
    carol = removeAttrs t.base.users.bob [ "sshKeys" ] // {
      uid = 1002;
      description = "Carol Example";
      email = "carol@example.org";
      gitUser = "carol-example";
      tailscaleSsh = true;
    };
  }
)
