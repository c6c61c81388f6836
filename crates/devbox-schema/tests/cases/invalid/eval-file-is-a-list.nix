# expect-eval-error: the file must evaluate to an attribute set
# expect-eval-error: but it is a list
[ { users = { }; } ]
