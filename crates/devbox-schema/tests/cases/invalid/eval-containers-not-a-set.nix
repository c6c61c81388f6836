# expect-eval-error: `containers` must be an attribute set of limits
(import ../lib.nix).base // { containers = [ ]; }
