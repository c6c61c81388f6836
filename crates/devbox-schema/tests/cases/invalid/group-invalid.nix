# expect: group-invalid /users/alice/extraGroups/0
(import ../lib.nix).withUser "alice" { extraGroups = [ "Wheel" ]; }
