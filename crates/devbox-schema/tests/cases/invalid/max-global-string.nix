# expect: wrong-type /containers/maxGlobal
(import ../lib.nix).withContainers { maxGlobal = "7"; }
