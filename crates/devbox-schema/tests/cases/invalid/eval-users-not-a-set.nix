# expect-eval-error: `users` must be an attribute set of people keyed by user name
{ users = [ "alice" ]; }
