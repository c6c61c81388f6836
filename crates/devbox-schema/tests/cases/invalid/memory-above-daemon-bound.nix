# expect: memory-out-of-range /containers/defaultMemory
# devboxd refuses more than 1T per container, so users.nix must too (it accepted up to 4096G).
(import ../lib.nix).withContainers { defaultMemory = "2048G"; maxMemory = "1024G"; }
