//! Syncthing inside the dev container: first-start configuration on the home volume (so the
//! identity survives restarts and re-creation with the same volume), the command line, and
//! reading the device ID.
//!
//! The first start writes a minimal `config.xml`; Syncthing fills in the rest (its key pair,
//! its own device entry in the folder) and owns the file from then on, so pairing done by the
//! user is kept. Public discovery, relays, NAT traversal and usage reporting are off: a peer
//! pairs over the tailnet by address, and a lost connection is redialled every 10 s (not 60).

use std::io::Read;

use crate::config::Config;

pub const FOLDER_ID: &str = "devbox-sync";

/// The first-start configuration. The GUI and REST API need the user `dev` and its password
/// (`gui_password_hash`, bcrypt) or the API key (PID 1's activity probe); with that, the GUI
/// may be reached over the tailnet by name (http://NAME:8384), so the localhost-only Host
/// check (against DNS rebinding of an unauthenticated GUI) is off.
pub fn initial_config(cfg: &Config, api_key: &str, gui_password_hash: &str) -> String {
    let folder = xml_escape(&cfg.sync_folder.to_string_lossy());
    let gui = xml_escape(&cfg.syncthing_gui);
    let listen = xml_escape(&cfg.syncthing_listen);
    let user = crate::prepare::GUI_USER;
    let password = xml_escape(gui_password_hash);
    format!(
        r#"<configuration version="36">
    <folder id="{FOLDER_ID}" label="sync" path="{folder}" type="sendreceive" rescanIntervalS="3600" fsWatcherEnabled="true" fsWatcherDelayS="1" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <minDiskFree unit="%">1</minDiskFree>
        <maxConflicts>-1</maxConflicts>
        <markerName>.stfolder</markerName>
    </folder>
    <gui enabled="true" tls="false" debugging="false">
        <address>{gui}</address>
        <apikey>{api_key}</apikey>
        <user>{user}</user>
        <password>{password}</password>
        <insecureSkipHostcheck>true</insecureSkipHostcheck>
        <theme>default</theme>
    </gui>
    <options>
        <listenAddress>{listen}</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <reconnectionIntervalS>10</reconnectionIntervalS>
        <startBrowser>false</startBrowser>
        <urAccepted>-1</urAccepted>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <crashReportingEnabled>false</crashReportingEnabled>
        <setLowPriority>true</setLowPriority>
    </options>
</configuration>
"#
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A fresh API key (hex of 16 random bytes).
pub fn new_api_key() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `<apikey>` of a config.xml.
pub fn api_key_from_config(xml: &str) -> Option<String> {
    let start = xml.find("<apikey>")? + "<apikey>".len();
    let end = start + xml[start..].find("</apikey>")?;
    let key = xml[start..end].trim();
    (!key.is_empty()).then(|| key.to_string())
}

/// The `syncthing` command line (run as the dev user).
pub fn args(cfg: &Config) -> Vec<String> {
    vec![
        "serve".into(),
        format!("--home={}", cfg.syncthing_home.display()),
        "--no-browser".into(),
        "--no-restart".into(),
        // (No --no-default-folder: Syncthing 2 dropped the flag; STNODEFAULTFOLDER=1 in the
        // environment works for 1.x and 2.x, and our first-start config has its own folder.)
        "--no-upgrade".into(),
        format!("--gui-address=http://{}", cfg.syncthing_gui),
    ]
}

/// The commands that print the device ID, newest Syncthing first: 2.x has a `device-id`
/// subcommand, 1.x a `serve --device-id` flag.
pub fn device_id_commands(cfg: &Config) -> [Vec<String>; 2] {
    let home = format!("--home={}", cfg.syncthing_home.display());
    [
        vec!["device-id".into(), home.clone()],
        vec!["serve".into(), home, "--device-id".into()],
    ]
}

/// A device ID as Syncthing prints it: 8 groups of 7 base32 characters.
pub fn is_device_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 8
        && groups.iter().all(|g| {
            g.len() == 7
                && g.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        })
}

/// The API key Syncthing uses now, read by PID 1 from its config on the volume (no symlink
/// followed: the file is the dev user's).
pub fn current_api_key(cfg: &Config) -> Option<String> {
    let bytes =
        crate::homefs::read_file(&cfg.home, &cfg.syncthing_home.join("config.xml"), 1 << 20)
            .ok()?;
    api_key_from_config(&String::from_utf8_lossy(&bytes))
}

/// Newest `lastFile.at` over all folders of `/rest/stats/folder` (a file synced from a peer).
pub fn last_transfer(stats_json: &str) -> Option<jiff::Timestamp> {
    let v: serde_json::Value = serde_json::from_str(stats_json).ok()?;
    v.as_object()?
        .values()
        .filter_map(|f| f.get("lastFile")?.get("at")?.as_str()?.parse().ok())
        .filter(|t: &jiff::Timestamp| t.as_second() > 0)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_config_turns_off_public_discovery_and_relays() {
        let cfg = crate::config::Config::from_lookup(|k| match k {
            "DEVBOX_HOSTNAME" => Some("a-b".into()),
            "DEVBOX_OWNER" => Some("alice".into()),
            _ => None,
        })
        .unwrap();
        let xml = initial_config(&cfg, "k3y", "$2b$10$h");
        for needle in [
            "<globalAnnounceEnabled>false</globalAnnounceEnabled>",
            "<localAnnounceEnabled>false</localAnnounceEnabled>",
            "<relaysEnabled>false</relaysEnabled>",
            "<reconnectionIntervalS>10</reconnectionIntervalS>",
            "<listenAddress>tcp://0.0.0.0:22000</listenAddress>",
            "<address>127.0.0.1:8384</address>",
            "path=\"/home/dev/sync\"",
            "<maxConflicts>-1</maxConflicts>",
            "<user>dev</user>",
            "<password>$2b$10$h</password>",
        ] {
            assert!(xml.contains(needle), "{needle}");
        }
        assert_eq!(api_key_from_config(&xml).as_deref(), Some("k3y"));
        assert_eq!(api_key_from_config("<gui></gui>"), None);
        assert_eq!(new_api_key().unwrap().len(), 32);
    }

    #[test]
    fn device_ids() {
        assert!(is_device_id(
            "7DSNVGV-SWRHA7V-UCM5S3M-LK7CUBB-VIROYZK-N4LBUZK-GSK2Q4R-FW33VQP"
        ));
        assert!(!is_device_id("unknown command device-id"));
        assert!(!is_device_id("7DSNVGV-SWRHA7V"));
    }

    #[test]
    fn last_transfer_takes_the_newest_folder_file() {
        let json = r#"{"a":{"lastFile":{"at":"2026-01-02T03:04:05Z","filename":"x"}},
                       "b":{"lastFile":{"at":"1970-01-01T00:00:00Z","filename":""}},
                       "c":{"lastScan":"2026-01-01T00:00:00Z"}}"#;
        assert_eq!(
            last_transfer(json).unwrap().to_string(),
            "2026-01-02T03:04:05Z"
        );
        assert!(last_transfer("{}").is_none());
        assert!(last_transfer("garbage").is_none());
    }
}
