# expect-eval-error: the attribute `users` is missing
{ containers = { }; }
