# expect: unknown-field /containers/maxPeruser
(import ../lib.nix).withContainers { maxPeruser = 2; }
