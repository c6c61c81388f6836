//! File access by root (PID 1) in places the dev user controls, without following a symlink.
//!
//! The home volume is `dev`'s: any entry in it may be a symlink to a root-owned path (`ln -s
//! /usr/bin ~/sync`), so a path-based chown, open or create by root would act on the target.
//! Everything root does below the home goes through directory file descriptors opened one
//! component at a time with `O_NOFOLLOW`; files are created with `O_EXCL` and changed through
//! their descriptor. Most of the home preparation is not done by root at all but by a child
//! running as `dev` (see [`crate::prepare`]); this module covers what PID 1 itself must do:
//! give a fresh volume's root to `dev`, and keep the last-activity file.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag, AT_FDCWD};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::unistd::{fchown, Gid, Uid};

fn io(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Opens the directory `path`. The part up to and including `trusted` (the home directory:
/// its parents are root's) is resolved normally; every component below it must not be a
/// symlink. A path outside `trusted` must have no symlink anywhere.
pub fn open_dir(trusted: &Path, path: &Path) -> std::io::Result<OwnedFd> {
    let (mut dir, rest) = match path.strip_prefix(trusted) {
        Ok(rest) => (
            openat(
                AT_FDCWD,
                trusted,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(io)?,
            rest,
        ),
        Err(_) => (
            openat(AT_FDCWD, "/", DIR_FLAGS, Mode::empty()).map_err(io)?,
            path,
        ),
    };
    for c in rest.components() {
        match c {
            Component::Normal(name) => {
                dir = openat(&dir, name, DIR_FLAGS, Mode::empty()).map_err(|e| {
                    if e == Errno::ELOOP || e == Errno::ENOTDIR {
                        std::io::Error::other(format!(
                            "{} is a symlink or not a directory below {}; root does not follow it",
                            path.display(),
                            trusted.display()
                        ))
                    } else {
                        io(e)
                    }
                })?;
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(std::io::Error::other(format!(
                    "{} has a `..` component",
                    path.display()
                )))
            }
        }
    }
    Ok(dir)
}

/// Splits `path` into its directory and a plain file name.
fn split(path: &Path) -> std::io::Result<(&Path, &OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => Ok((dir, name)),
        _ => Err(std::io::Error::other(format!(
            "{} is not a file path",
            path.display()
        ))),
    }
}

/// Reads at most `max` bytes of the regular file `path` (no symlink below `trusted`; a FIFO or
/// device is refused, so a planted one can neither block nor flood PID 1).
pub fn read_file(trusted: &Path, path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let (dir, name) = split(path)?;
    let dir = open_dir(trusted, dir)?;
    let fd = openat(
        &dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io)?;
    let st = fstat(&fd).map_err(io)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd).take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Replaces the file `path` atomically (temp file + rename inside the same directory
/// descriptor) with `bytes`, mode `mode`, owned by `owner`. Nothing is followed: the temp file
/// is created with `O_EXCL | O_NOFOLLOW`, and the rename replaces a symlink, not its target.
pub fn write_atomic(
    trusted: &Path,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: (u32, u32),
) -> std::io::Result<()> {
    let (dir, name) = split(path)?;
    let dir = open_dir(trusted, dir)?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp: &OsStr = &tmp_name;
    let _ = nix::unistd::unlinkat(&dir, tmp, nix::unistd::UnlinkatFlags::NoRemoveDir);
    let fd = openat(
        &dir,
        tmp,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map_err(io)?;
    fchown(
        fd.as_fd(),
        Some(Uid::from_raw(owner.0)),
        Some(Gid::from_raw(owner.1)),
    )
    .map_err(io)?;
    let mut f = std::fs::File::from(fd);
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    renameat(&dir, tmp, &dir, name).map_err(io)
}

/// Gives the directory `path` itself (the home volume's root, which a fresh volume has as
/// root's) to `owner`, through its descriptor. Returns whether it changed.
pub fn give_dir(path: &Path, owner: (u32, u32)) -> std::io::Result<bool> {
    let fd = openat(AT_FDCWD, path, DIR_FLAGS, Mode::empty()).map_err(io)?;
    let st = fstat(&fd).map_err(io)?;
    if (st.st_uid, st.st_gid) == owner {
        return Ok(false);
    }
    fchown(
        fd.as_fd(),
        Some(Uid::from_raw(owner.0)),
        Some(Gid::from_raw(owner.1)),
    )
    .map_err(io)?;
    Ok(true)
}

/// Gives the directories `rels` (relative to `home`, each component a real directory, no
/// symlink) to `owner` where they are root's: earlier versions of the entrypoint created
/// `~/.config` as root, which left `dev` unable to manage its own configuration. Safe through
/// descriptors: a directory cannot be hard-linked, and `O_NOFOLLOW` refuses a symlink, so only
/// directories inside the volume change owner. Returns the ones given.
pub fn give_root_dirs(
    home: &Path,
    rels: &[&str],
    owner: (u32, u32),
) -> std::io::Result<Vec<String>> {
    let mut given = Vec::new();
    for rel in rels {
        let Ok(fd) = open_dir(home, &home.join(rel)) else {
            continue; // missing, or not a plain directory: nothing of root's to give
        };
        let st = fstat(&fd).map_err(io)?;
        if st.st_uid == 0 && owner.0 != 0 {
            fchown(
                fd.as_fd(),
                Some(Uid::from_raw(owner.0)),
                Some(Gid::from_raw(owner.1)),
            )
            .map_err(io)?;
            given.push((*rel).to_string());
        }
    }
    Ok(given)
}

/// A printable form of a file name for error messages.
pub fn show(name: &OsStr) -> String {
    String::from_utf8_lossy(name.as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_below_the_trusted_dir_are_refused_and_files_are_written_in_place() {
        let base = std::env::temp_dir().join(format!("homefs-{}", std::process::id()));
        let home = base.join("home");
        let outside = base.join("outside");
        std::fs::create_dir_all(home.join("state")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, home.join("link")).unwrap();
        let me = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );

        // A symlinked directory is not entered.
        let err = write_atomic(&home, &home.join("link/x.json"), b"{}", 0o644, me).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!outside.join("x.json").exists());
        // A symlinked file is replaced, never written through.
        std::os::unix::fs::symlink(outside.join("target"), home.join("state/a.json")).unwrap();
        write_atomic(&home, &home.join("state/a.json"), b"{}", 0o644, me).unwrap();
        assert!(!outside.join("target").exists());
        assert_eq!(std::fs::read(home.join("state/a.json")).unwrap(), b"{}");
        // Reading: bounded, regular files only, no symlink.
        assert_eq!(
            read_file(&home, &home.join("state/a.json"), 1).unwrap(),
            b"{"
        );
        std::os::unix::fs::symlink("/etc/passwd", home.join("state/p")).unwrap();
        assert!(read_file(&home, &home.join("state/p"), 100).is_err());
        nix::unistd::mkfifo(&home.join("state/fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(read_file(&home, &home.join("state/fifo"), 100).is_err());
        assert!(!give_dir(&home, me).unwrap());
        let _ = std::fs::remove_dir_all(base);
    }
}
