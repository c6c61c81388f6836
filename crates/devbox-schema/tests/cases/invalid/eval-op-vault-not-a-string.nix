# expect-eval-error: containers.opVault must be a string
(import ../lib.nix).withContainers { opVault = 1; }
