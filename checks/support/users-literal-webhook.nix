# examples/users.nix with the webhook URL written in by mistake (a secret; the orchestrator
# module must refuse it and keep it out of every file it generates). Used by
# checks/pure/module-logic.nix.
let
  example = import ../../examples/users.nix;
in
example
// {
  containers = example.containers // {
    notifyWebhook = "https://hooks.example.org/services/SECRET-WEBHOOK-CANARY";
  };
}
