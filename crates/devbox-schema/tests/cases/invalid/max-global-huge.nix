# expect: limit-out-of-range /containers/maxGlobal
(import ../lib.nix).withContainers { maxGlobal = 70000; }
