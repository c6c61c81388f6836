# A users.nix lacking required fields (uid, description, sshKeys, ...), for checks/pure/module-logic.nix:
# the orchestrator must still evaluate so the validator reports what is missing.
{
  users.dave = {
    email = "dave@example.org";
  };
}
