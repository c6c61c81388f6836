//! LOCAL DEMO ONLY: builds (once) the testbed dev-container image — the real devbox-entrypoint
//! with FAKE tailscale/tailscaled, code-server and Zed server, and Debian's real Syncthing —
//! and prints its reference. Used by scripts/demo.sh on machines without Nix, where the real
//! `dockerTools` image cannot be built. Needs `cargo build --workspace --bins` first.

fn main() {
    match devbox_test_kit::testbed::ensure_image() {
        Ok(image) => println!("{image}"),
        Err(e) => {
            eprintln!("demo-image: {e:#}");
            std::process::exit(1);
        }
    }
}
