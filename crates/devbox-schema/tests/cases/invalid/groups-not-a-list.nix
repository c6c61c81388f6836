# expect: wrong-type /users/alice/extraGroups
(import ../lib.nix).withUser "alice" { extraGroups = "wheel"; }
