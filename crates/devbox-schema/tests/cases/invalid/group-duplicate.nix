# expect: group-duplicate /users/alice/extraGroups/1
(import ../lib.nix).withUser "alice" {
  extraGroups = [
    "wheel"
    "wheel"
  ];
}
