# Valid: console bootstrap passwords as crypt hashes (made with libxcrypt's crypt(3), as
# `mkpasswd -m yescrypt` does): yescrypt for alice, SHA-512 for bob.
let
  t = import ../lib.nix;
in
t.withUsers (
  t.base.users
  // {
    alice = t.base.users.alice // {
      initialHashedPassword = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79";
    };
    bob = t.base.users.bob // {
      initialHashedPassword = "$6$a6CT5lJYbG066OeK$7/PGVboIPMIMU89my4vU186WX69e.CnLOfszxrehbbh4FjqYZd1CX0dE.LmJMAa5iUAiRP8AEp8iRqOWiQkSg.";
    };
  }
)
