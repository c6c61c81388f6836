# expect-eval-error: users.bob.email is a function
(import ../lib.nix).withUser "bob" { email = x: x; }
