# expect: webhook-invalid /containers/notifyWebhook
# The URL is a secret and users.json is world-readable: only an op:// reference is accepted.
(import ../lib.nix).withContainers { notifyWebhook = "https://hooks.example.org/SECRET"; }
