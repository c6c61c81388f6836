# expect-eval-error: `derived` is computed by lib/export-users.nix
(import ../lib.nix).base // { derived = { }; }
