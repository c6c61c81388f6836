# expect: webhook-invalid /containers/notifyWebhook
(import ../lib.nix).withContainers { notifyWebhook = "ftp://hooks.example.org/x"; }
