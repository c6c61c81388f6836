# expect: days-out-of-range /containers/idleStopDays
(import ../lib.nix).withContainers { idleStopDays = 0; }
