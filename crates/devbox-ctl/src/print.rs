//! Writing to stdout and stderr without ever panicking. `out!` and `say!` pass what they print
//! through `term::clean` (names, status fields and messages can come from a container);
//! `out_raw!` is for machine output (`--json`), written exactly as given.

/// `println!` for humans that never panics: a closed stdout (e.g. `devbox-ctl list | head -1`)
/// ends the program quietly, like a Unix tool killed by SIGPIPE. Control characters in what it
/// prints (names, status fields, messages from a container) are made visible (`term::clean`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), "{}", crate::term::clean(&format!($($arg)*))) {
            crate::print::stdout_gone(&e)
        }
    }};
}

/// `println!` of machine output (`--json`), written exactly as given.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            crate::print::stdout_gone(&e)
        }
    }};
}

/// `eprintln!` that never panics (a message that cannot be shown is dropped); control
/// characters are made visible like `out!`.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{}", crate::term::clean(&format!($($arg)*)));
    }};
}

/// `eprint!` + flush that never panics (for prompts).
macro_rules! say_part {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut err = std::io::stderr();
        let _ = write!(err, "{}", crate::term::clean(&format!($($arg)*)));
        let _ = err.flush();
    }};
}

/// Stdout cannot be written: a reader that went away (broken pipe) is not an error worth a
/// message (exit 141, as a shell reports SIGPIPE); anything else is said on stderr (exit 1).
pub fn stdout_gone(e: &std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        say!("devbox-ctl: cannot write to stdout: {e}");
        std::process::exit(1)
    }
    std::process::exit(141)
}

/// Writes generated text (completions, man page) to stdout, never panicking.
pub fn write_stdout(bytes: &[u8]) {
    use std::io::Write as _;
    let mut out = std::io::stdout();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        stdout_gone(&e)
    }
}

/// The one `--json` document on stdout.
pub fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    out_raw!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
