# expect: default-above-max /containers/defaultCpu
(import ../lib.nix).withContainers { defaultCpu = 8; maxCpu = 4; }
