# expect-eval-error: users.bob must be an attribute set
(import ../lib.nix).withUsers ((import ../lib.nix).base.users // { bob = "Bob Example"; })
