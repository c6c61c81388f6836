# Valid: Tailscale SSH and OpenSSH keys together, and a bcrypt console hash.
(import ../lib.nix).withUser "bob" {
  tailscaleSsh = true;
  initialHashedPassword = "$2b$10$abcdefghijklmnopqrstuu4T826PRnz0Hu6YlprUuxkZxOOj5Fw5S";
}
