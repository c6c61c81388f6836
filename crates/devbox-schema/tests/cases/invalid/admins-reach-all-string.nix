# expect: wrong-type /containers/adminsReachAll
(import ../lib.nix).withContainers { adminsReachAll = "yes"; }
