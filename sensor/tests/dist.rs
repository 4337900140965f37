//! What ships beside the binary: the systemd unit is one systemd accepts
//! as it is written, and it runs the sensor with options the sensor has.

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_cleanly() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/mekong-sensor.service"
    ))
    .unwrap();
    assert!(unit
        .contains("ExecStart=/usr/local/bin/mekong-sensor live --config /etc/mekong/mekong.toml"));
    // systemd checks that the program exists: point it at this build.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mekong-sensor.service");
    std::fs::write(
        &p,
        unit.replace(
            "/usr/local/bin/mekong-sensor",
            env!("CARGO_BIN_EXE_mekong-sensor"),
        ),
    )
    .unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&p)
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/setup.sh installs it)");
    let said = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{said}");
    let ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("mekong-sensor.service"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze: {said}");
    // The options the unit passes are the sensor's.
    let help = Command::new(env!("CARGO_BIN_EXE_mekong-sensor"))
        .args(["live", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for opt in [
        "--config",
        "--quiet",
        "--interface",
        "--metrics",
        "--user",
        "--method",
        "--rotate",
    ] {
        assert!(help.contains(opt), "{opt} missing from live --help");
    }
}
