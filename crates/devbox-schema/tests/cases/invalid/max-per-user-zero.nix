# expect: limit-out-of-range /containers/maxPerUser
(import ../lib.nix).withContainers { maxPerUser = 0; }
