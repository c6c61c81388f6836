# expect: unknown-field /container
(import ../lib.nix).base // { container = { }; }
