//! The testbed image: a FROM-scratch image with `devbox-entrypoint` as PID 1, its shared
//! libraries, busybox, Debian's real `syncthing`, and the fakes installed under the real
//! programs' names (`tailscale`, `tailscaled`, `code-server`, the Zed remote server), plus a
//! `dev` user (uid 1000). Built with `podman import` from a rootfs tarball, tagged with a hash
//! of its content so a rebuilt binary gives a new image; a lock file serializes builders.

use std::collections::BTreeSet;
use std::fs;
use std::hash::Hasher;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::{Flock, FlockArg};

use crate::podman::{podman, podman_output};
use crate::{bin_path, KitError, Result};

pub const IMAGE_REPO: &str = "localhost/devbox-testbed";
/// Where the image keeps the Zed remote server the entrypoint provisions from.
pub const ZED_SERVER_IN_IMAGE: &str = "/opt/devbox/zed-remote-server";
/// Bump when the layout below changes without any binary changing.
const LAYOUT_VERSION: &str = "testbed-layout-1";
const PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// (source on the host, destination in the image)
fn payload() -> Result<Vec<(PathBuf, &'static str)>> {
    Ok(vec![
        (bin_path("devbox-entrypoint")?, "/usr/bin/devbox-entrypoint"),
        (bin_path("fake-tailscale")?, "/usr/bin/tailscale"),
        (bin_path("fake-tailscaled")?, "/usr/sbin/tailscaled"),
        (bin_path("fake-code-server")?, "/usr/bin/code-server"),
        (bin_path("fake-zed-remote-server")?, ZED_SERVER_IN_IMAGE),
        (host_file("/usr/bin/syncthing")?, "/usr/bin/syncthing"),
        (host_file("/bin/busybox")?, "/bin/busybox"),
    ])
}

fn host_file(p: &str) -> Result<PathBuf> {
    let path = PathBuf::from(p);
    if path.is_file() {
        Ok(path)
    } else {
        Err(KitError::Other(format!(
            "{p} is missing: run scripts/setup-debian.sh (installs syncthing and busybox-static)"
        )))
    }
}

/// Builds the testbed image once (idempotent, safe for concurrent callers) and returns its
/// reference, `localhost/devbox-testbed:<content-hash>`.
pub fn ensure_image() -> Result<String> {
    let files = payload()?;
    let mut libs = BTreeSet::new();
    for (src, _) in &files {
        libs.extend(shared_libraries(src)?);
    }
    // Content hash over the layout, every file's destination and bytes, and the libraries.
    let mut h1 = std::collections::hash_map::DefaultHasher::new();
    let mut h2 = std::collections::hash_map::DefaultHasher::new();
    h2.write(b"second");
    let mut feed = |bytes: &[u8]| {
        h1.write(bytes);
        h2.write(bytes);
    };
    feed(LAYOUT_VERSION.as_bytes());
    for (src, dst) in &files {
        feed(dst.as_bytes());
        feed(&fs::read(src).map_err(|e| KitError::io(format!("read {}", src.display()), e))?);
    }
    for lib in &libs {
        feed(lib.as_os_str().as_encoded_bytes());
        feed(&fs::read(lib).map_err(|e| KitError::io(format!("read {}", lib.display()), e))?);
    }
    let image = format!("{IMAGE_REPO}:{:016x}{:016x}", h1.finish(), h2.finish());

    let lock_path = std::env::temp_dir().join("devbox-testbed.lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| KitError::io(format!("open {}", lock_path.display()), e))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| KitError::io("lock testbed build", e.into()))?;

    if podman_output(&["image", "exists", &image])?
        .status
        .success()
    {
        return Ok(image);
    }
    let work = std::env::temp_dir().join(format!("devbox-testbed-build-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    let result = build(&work, &files, &libs, &image);
    let _ = fs::remove_dir_all(&work);
    if result.is_ok() {
        prune_stale_images(&image);
    }
    result.map(|()| image)
}

/// Removes testbed images older than a few hours (every rebuilt binary makes a new one), so a
/// developer's machine does not fill up. Best effort; an image still in use is kept by Podman.
fn prune_stale_images(current: &str) {
    let Ok(list) = podman(&[
        "images",
        "--filter",
        &format!("reference={IMAGE_REPO}"),
        "--filter",
        "until=6h",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]) else {
        return;
    };
    for old in list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != current)
    {
        let _ = podman_output(&["rmi", old]);
    }
}

/// The rootfs in `work`, packed into a tarball and imported as `image`.
fn build(
    work: &Path,
    files: &[(PathBuf, &'static str)],
    libs: &BTreeSet<PathBuf>,
    image: &str,
) -> Result<()> {
    let root = work.join("rootfs");
    make_dirs(&root)?;
    copy_payload(&root, files, libs)?;
    link_busybox_applets(&root)?;
    write_accounts(&root)?;
    let tar = work.join("rootfs.tar");
    pack(&root, &tar)?;
    import(&tar, image)
}

/// `p` (absolute, as in the image) under the rootfs at `root`.
fn in_root(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// The directory skeleton, with the modes a real system has (`/tmp` sticky).
fn make_dirs(root: &Path) -> Result<()> {
    let mkdir = |p: &str, mode: u32| -> Result<()> {
        let d = in_root(root, p);
        fs::create_dir_all(&d).map_err(|e| KitError::io(format!("mkdir {}", d.display()), e))?;
        fs::set_permissions(&d, fs::Permissions::from_mode(mode))
            .map_err(|e| KitError::io(format!("chmod {}", d.display()), e))
    };
    for d in [
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/etc",
        "/root",
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/run/devbox",
        "/var/lib/fake-tailscale",
        "/var/run",
        "/home/dev",
        "/opt/devbox",
    ] {
        mkdir(d, 0o755)?;
    }
    mkdir("/tmp", 0o1777)?;
    mkdir("/var/tmp", 0o1777)
}

/// Our binaries, the host's programs and every shared library they need, each at its place.
fn copy_payload(
    root: &Path,
    files: &[(PathBuf, &'static str)],
    libs: &BTreeSet<PathBuf>,
) -> Result<()> {
    let copy = |src: &Path, dst: &str| -> Result<()> {
        let to = in_root(root, dst);
        if let Some(dir) = to.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| KitError::io(format!("mkdir {}", dir.display()), e))?;
        }
        fs::copy(src, &to)
            .map_err(|e| KitError::io(format!("copy {} -> {}", src.display(), to.display()), e))?;
        Ok(())
    };
    for (src, dst) in files {
        copy(src, dst)?;
    }
    for lib in libs {
        copy(lib, &lib.to_string_lossy())?;
    }
    Ok(())
}

/// busybox applets: symlinks where nothing of ours lives (so run after the payload is in).
fn link_busybox_applets(root: &Path) -> Result<()> {
    let list = Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .map_err(|e| KitError::io("busybox --list-full", e))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = in_root(root, applet);
        if link.exists() || applet.is_empty() {
            continue;
        }
        if let Some(dir) = link.parent() {
            let _ = fs::create_dir_all(dir);
        }
        symlink("/bin/busybox", &link)
            .map_err(|e| KitError::io(format!("symlink {}", link.display()), e))?;
    }
    Ok(())
}

/// root, `dev` (1000, owning its home) and nobody, resolved from files alone.
fn write_accounts(root: &Path) -> Result<()> {
    let write = |p: &str, text: &str| -> Result<()> {
        let to = in_root(root, p);
        fs::write(&to, text).map_err(|e| KitError::io(format!("write {}", to.display()), e))
    };
    write(
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\ndev:x:1000:1000:dev:/home/dev:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    write("/etc/group", "root:x:0:\ndev:x:1000:\nnogroup:x:65534:\n")?;
    write(
        "/etc/nsswitch.conf",
        "passwd: files\ngroup: files\nhosts: files dns\n",
    )?;
    nix::unistd::chown(
        &root.join("home/dev"),
        Some(nix::unistd::Uid::from_raw(1000)),
        Some(nix::unistd::Gid::from_raw(1000)),
    )
    .map_err(|e| KitError::io("chown home/dev", e.into()))
}

/// The rootfs as a tarball, numeric owners kept.
fn pack(root: &Path, tar: &Path) -> Result<()> {
    let out = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .output()
        .map_err(|e| KitError::io("run tar", e))?;
    if !out.status.success() {
        return Err(KitError::Command {
            command: "tar -cf rootfs.tar".into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

/// `podman import` of the tarball, with the entrypoint, environment and stop signal set.
fn import(tar: &Path, image: &str) -> Result<()> {
    let tar = tar.to_string_lossy().into_owned();
    podman(&[
        "import",
        "--change",
        "ENTRYPOINT [\"/usr/bin/devbox-entrypoint\"]",
        "--change",
        "CMD [\"run\"]",
        "--change",
        &format!("ENV PATH={PATH_ENV}"),
        "--change",
        &format!("ENV DEVBOX_ZED_SERVER_BINARY={ZED_SERVER_IN_IMAGE}"),
        "--change",
        "LABEL devbox.testbed=true",
        "--change",
        "STOPSIGNAL SIGTERM",
        &tar,
        image,
    ])?;
    Ok(())
}

/// The shared libraries (and the dynamic loader) a binary needs, from `ldd`; none for a
/// static binary.
fn shared_libraries(bin: &Path) -> Result<BTreeSet<PathBuf>> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| KitError::io("run ldd", e))?;
    let mut libs = BTreeSet::new();
    if !out.status.success() {
        return Ok(libs); // "not a dynamic executable"
    }
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(path) = line.split_whitespace().find(|t| t.starts_with('/')) {
            libs.insert(PathBuf::from(path));
        }
    }
    Ok(libs)
}
