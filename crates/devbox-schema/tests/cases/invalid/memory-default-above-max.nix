# expect: default-above-max /containers/defaultMemory
(import ../lib.nix).withContainers { defaultMemory = "32G"; maxMemory = "16G"; }
