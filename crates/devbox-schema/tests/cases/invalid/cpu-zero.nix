# expect: cpu-out-of-range /containers/defaultCpu
(import ../lib.nix).withContainers { defaultCpu = 0; }
