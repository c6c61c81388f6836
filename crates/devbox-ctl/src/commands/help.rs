//! `completions` and `man`: texts generated from the clap definitions.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::print::write_stdout;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    // Rendered into memory first: clap_complete panics when its writer fails.
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "devbox-ctl", &mut buf);
    write_stdout(&buf);
    Ok(())
}

pub fn man() -> anyhow::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    write_stdout(&buf);
    Ok(())
}
