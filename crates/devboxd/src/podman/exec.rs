//! Running a command in a container (`exec`), with its answer bounded: what an exec prints is
//! controlled by whoever is root in that container, and the daemon serves everyone.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{map_err, Podman};
use crate::engine::{ContainerId, EngineError, ExecOutput};

/// The most an exec keeps of each of stdout and stderr (the rest is read and dropped, so the
/// exit code still arrives).
pub const MAX_EXEC_OUTPUT: usize = 1 << 20;

/// Appends `data` to `buf` up to [`MAX_EXEC_OUTPUT`] bytes in all.
pub(super) fn append_bounded(buf: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_EXEC_OUTPUT.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// The exit code may lag the end of the output stream by a moment: how long to ask for it.
const EXIT_CODE_WAIT: Duration = Duration::from_secs(5);

impl Podman {
    /// `exec` as the engine trait defines it: the whole exec (output and exit code) within
    /// `timeout`.
    pub(super) async fn exec_bounded(
        &self,
        id: &ContainerId,
        cmd: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<ExecOutput, EngineError> {
        let program = cmd.first().copied().unwrap_or("");
        let run = async {
            let exec_id = self.create_exec(id, cmd, stdin.is_some()).await?;
            let (stdout, stderr) = self.attach_exec(&exec_id, stdin).await?;
            let exit_code = self.exit_code(&exec_id, id, program).await?;
            Ok(ExecOutput {
                exit_code,
                stdout,
                stderr,
            })
        };
        tokio::time::timeout(timeout, run).await.map_err(|_| {
            EngineError::Failed(format!(
                "exec {program:?} in {id} timed out after {}s",
                timeout.as_secs()
            ))
        })?
    }

    async fn create_exec(
        &self,
        id: &ContainerId,
        cmd: &[&str],
        with_stdin: bool,
    ) -> Result<String, EngineError> {
        let created = self
            .docker()?
            .create_exec(
                id.as_str(),
                CreateExecOptions::<String> {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdin: Some(with_stdin),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map_err(map_err)?;
        Ok(created.id)
    }

    /// Starts the exec, writes `stdin` (then closes it) and reads its output to the end, each
    /// stream bounded by [`MAX_EXEC_OUTPUT`].
    async fn attach_exec(
        &self,
        exec_id: &str,
        stdin: Option<&[u8]>,
    ) -> Result<(Vec<u8>, Vec<u8>), EngineError> {
        let started = self
            .docker()?
            .start_exec(
                exec_id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(map_err)?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        else {
            return Ok((stdout, stderr));
        };
        if let Some(data) = stdin {
            input
                .write_all(data)
                .await
                .map_err(|e| EngineError::Failed(format!("exec stdin: {e}")))?;
            input
                .shutdown()
                .await
                .map_err(|e| EngineError::Failed(format!("exec stdin close: {e}")))?;
        }
        drop(input);
        while let Some(chunk) = output.next().await {
            match chunk.map_err(map_err)? {
                bollard::container::LogOutput::StdOut { message } => {
                    append_bounded(&mut stdout, &message)
                }
                bollard::container::LogOutput::StdErr { message } => {
                    append_bounded(&mut stderr, &message)
                }
                _ => {}
            }
        }
        Ok((stdout, stderr))
    }

    async fn exit_code(
        &self,
        exec_id: &str,
        id: &ContainerId,
        program: &str,
    ) -> Result<i64, EngineError> {
        let deadline = tokio::time::Instant::now() + EXIT_CODE_WAIT;
        loop {
            let inspected = self
                .docker()?
                .inspect_exec(exec_id)
                .await
                .map_err(map_err)?;
            if inspected.running != Some(true) {
                if let Some(code) = inspected.exit_code {
                    return Ok(code);
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Failed(format!(
                    "exec {program:?} in {id} did not report an exit code"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
