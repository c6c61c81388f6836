use super::users::{is_valid_email, is_valid_git_user};
use super::*;

#[test]
fn names() {
    for ok in [
        "alice",
        "bob2",
        "a",
        "mary-jane",
        "x123456789012345678901234567890y",
    ] {
        assert!(is_valid_name(ok), "{ok}");
    }
    for bad in [
        "",
        "Alice",
        "2bob",
        "-x",
        "x-",
        "al ice",
        "al_ice",
        "alice$",
        "al.ice",
        "é",
        "x1234567890123456789012345678901y",
    ] {
        assert!(!is_valid_name(bad), "{bad}");
    }
}

#[test]
fn memory_sizes() {
    assert_eq!(parse_memory("4G"), Some(4 << 30));
    assert_eq!(parse_memory("512m"), Some(512 << 20));
    assert_eq!(parse_memory("1024k"), Some(1 << 20));
    assert_eq!(parse_memory("100b"), Some(100));
    for bad in [
        "",
        "G",
        "4",
        "4GB",
        "4.5G",
        "-4G",
        " 4G",
        "4 G",
        "99999999999999999999G",
    ] {
        assert_eq!(parse_memory(bad), None, "{bad}");
    }
    assert_eq!(parse_memory("18446744073709551615G"), None);
    assert_eq!(parse_memory("é"), None);
}

#[test]
fn emails() {
    for ok in ["alice@example.org", "a.b+c@sub.example.co.uk", "x@y.z"] {
        assert!(is_valid_email(ok), "{ok}");
    }
    for bad in [
        "",
        "alice",
        "alice@",
        "@example.org",
        "alice@example",
        "alice@@example.org",
        "al ice@example.org",
        "alice@exa mple.org",
        "alice@-example.org",
        "alice@example..org",
        ".alice@example.org",
        "a..b@example.org",
    ] {
        assert!(!is_valid_email(bad), "{bad}");
    }
}

#[test]
fn crypt_hashes() {
    // Made with libxcrypt's crypt(3) (what `mkpasswd` calls).
    for ok in [
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79",
        "$6$a6CT5lJYbG066OeK$7/PGVboIPMIMU89my4vU186WX69e.CnLOfszxrehbbh4FjqYZd1CX0dE.LmJMAa5iUAiRP8AEp8iRqOWiQkSg.",
        "$6$rounds=10000$a6CT5lJYbG066OeK$7/PGVboIPMIMU89my4vU186WX69e.CnLOfszxrehbbh4FjqYZd1CX0dE.LmJMAa5iUAiRP8AEp8iRqOWiQkSg.",
        "$2b$10$abcdefghijklmnopqrstuu4T826PRnz0Hu6YlprUuxkZxOOj5Fw5S",
        "$2y$12$abcdefghijklmnopqrstuu4T826PRnz0Hu6YlprUuxkZxOOj5Fw5S",
    ] {
        assert!(is_crypt_hash(ok), "{ok}");
    }
    for bad in [
        "",
        "hunter2",
        "correct horse battery staple",
        "!",
        "*",
        "$1$salt$qJH7.N4xYta3aEG/dfqo/0",
        "$y$j9T$salt$",
        "$y$j9T$sa lt$hash",
        "$6$a6CT5lJYbG066OeK$short",
        "$6$rounds=$salt$7/PGVboIPMIMU89my4vU186WX69e.CnLOfszxrehbbh4FjqYZd1CX0dE.LmJMAa5iUAiRP8AEp8iRqOWiQkSg.",
        "$2b$1$abcdefghijklmnopqrstuu4T826PRnz0Hu6YlprUuxkZxOOj5Fw5S",
        "$2b$10$tooshort",
        "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$zwtVrjrUCmXcyLTs6oxLTQlzifSUkF8RHJ./tK5KU79\n",
    ] {
        assert!(!is_crypt_hash(bad), "{bad}");
    }
}

#[test]
fn git_users() {
    assert!(is_valid_git_user("alice-example"));
    assert!(is_valid_git_user("A1"));
    for bad in ["", "-a", "a-", "a--b", "a_b", "a b", &"x".repeat(40)] {
        assert!(!is_valid_git_user(bad), "{bad}");
    }
}

#[test]
fn shorten_cuts_and_cleans() {
    assert_eq!(shorten("a\nb"), "ab");
    assert_eq!(shorten(&"x".repeat(61)).chars().count(), 61);
}
