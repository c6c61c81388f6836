# expect: limit-out-of-range /containers/maxKeptVolumesPerUser
(import ../lib.nix).withContainers { maxKeptVolumesPerUser = 5000; }
