# expect: wrong-type /containers/defaultMemory
(import ../lib.nix).withContainers { defaultMemory = 4; }
