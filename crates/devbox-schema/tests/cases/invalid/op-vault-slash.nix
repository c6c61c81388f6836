# expect: op-vault-invalid /containers/opVault
(import ../lib.nix).withContainers { opVault = "Dev/Box"; }
