# expect-eval-error: but it is a function
{ ... }: { users = { }; }
