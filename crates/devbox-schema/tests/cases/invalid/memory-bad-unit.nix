# expect: memory-invalid /containers/defaultMemory
(import ../lib.nix).withContainers { defaultMemory = "4GB"; }
