# expect: max-per-user-above-global /containers/maxPerUser
(import ../lib.nix).withContainers {
  maxPerUser = 8;
  maxGlobal = 7;
}
