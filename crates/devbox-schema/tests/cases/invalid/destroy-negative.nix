# expect: days-out-of-range /containers/stoppedDestroyDays
(import ../lib.nix).withContainers { stoppedDestroyDays = -3; }
