# expect: memory-out-of-range /containers/defaultMemory
(import ../lib.nix).withContainers { defaultMemory = "64M"; }
