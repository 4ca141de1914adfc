//! Installing on a server: the `.deb` and the static binary that `scripts/package-deb` builds
//! (installed into a staging root and run from there), and `scripts/install` finding a
//! toolchain or saying how to get one without installing half of cipug.
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.deb` of this version; built by `scripts/package-deb` when it is not there yet
/// (`scripts/test` builds it before the tests).
fn deb() -> PathBuf {
    let deb = repo().join(format!(
        "target/debian/cipug_{}-1_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    if !deb.is_file() {
        let out = Command::new(repo().join("scripts/package-deb"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    deb
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write_script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn deb_installs_into_a_staging_root_and_runs_there() {
    let deb = deb();
    let root = tempfile::tempdir().unwrap();
    let out = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bin = root.path().join("usr/bin/cipug");

    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(
        text(&version.stdout).trim(),
        format!("cipug {}", env!("CARGO_PKG_VERSION"))
    );
    // The binary is static: it runs on any Linux of the architecture, whatever its libc.
    let ldd = Command::new("ldd").arg(&bin).output().unwrap();
    let ldd = text(&ldd.stdout) + &text(&ldd.stderr);
    assert!(
        ldd.contains("statically linked") || ldd.contains("not a dynamic executable"),
        "{ldd}"
    );

    // doctor from the staged binary, on an empty services root with private state.
    let work = tempfile::tempdir().unwrap();
    let services = work.path().join("services");
    fs::create_dir(&services).unwrap();
    let doctor = Command::new(&bin)
        .arg("doctor")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("CIPUG_SERVICES_ROOT", &services)
        .env("CIPUG_STATE_DIR", work.path().join("state"))
        .env("CIPUG_CACHE_LOCATION", work.path().join("cache/cache.json"))
        .output()
        .unwrap();
    let stdout = text(&doctor.stdout);
    assert_eq!(
        doctor.status.code(),
        Some(0),
        "{stdout}{}",
        text(&doctor.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "services root {} has 0 service(s)",
            services.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("everything looks right"), "{stdout}");

    // What the package ships: no services root chosen for the user, units under
    // /lib/systemd/system naming /usr/bin/cipug, man page and completions.
    let env = fs::read_to_string(root.path().join("etc/cipug/cipug.env")).unwrap();
    assert!(
        !env.lines().any(|l| l.starts_with("CIPUG_SERVICES_ROOT")),
        "{env}"
    );
    let service = fs::read_to_string(root.path().join("lib/systemd/system/cipug.service")).unwrap();
    assert!(
        service.contains("ExecStart=/usr/bin/cipug update --wait"),
        "{service}"
    );
    for file in [
        "lib/systemd/system/cipug.timer",
        "usr/share/man/man1/cipug.1.gz",
        "usr/share/bash-completion/completions/cipug",
    ] {
        assert!(root.path().join(file).is_file(), "{file} missing");
    }
    // The package ships the timer but no maintainer script that would enable it.
    let control = tempfile::tempdir().unwrap();
    let out = Command::new("dpkg")
        .arg("-e")
        .arg(&deb)
        .arg(control.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    for script in ["postinst", "preinst"] {
        let path = control.path().join(script);
        let body = fs::read_to_string(&path).unwrap_or_default();
        assert!(!body.contains("enable"), "{script}: {body}");
    }
}

/// `scripts/install` with a PATH without cargo, as `sudo` gives root on Debian.
fn install_without_cargo(dest: &Path, home: &Path, sudo_user: Option<&str>, path: &str) -> Output {
    let mut cmd = Command::new(repo().join("scripts/install"));
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("DESTDIR", dest);
    if let Some(user) = sudo_user {
        cmd.env("SUDO_USER", user);
    }
    cmd.output().unwrap()
}

#[test]
fn install_without_a_toolchain_explains_rustup_and_installs_nothing() {
    let dest = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = install_without_cargo(
        dest.path(),
        home.path(),
        None,
        "/usr/sbin:/usr/bin:/sbin:/bin",
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cargo: not found"), "{stderr}");
    assert!(stderr.contains("Rust 1.85 or newer"), "{stderr}");
    assert!(stderr.contains("rustup"), "{stderr}");
    assert!(stderr.contains(".deb"), "{stderr}");
    assert_eq!(
        fs::read_dir(dest.path()).unwrap().count(),
        0,
        "something was installed"
    );
}

#[test]
fn install_finds_the_sudo_users_cargo_and_refuses_one_too_old() {
    // The sudo user's home comes from the passwd database: a stand-in `getent` answers for a
    // user whose home is a temporary folder with a stand-in cargo that only tells its version.
    let dir = tempfile::tempdir().unwrap();
    let fakes = dir.path().join("bin");
    let home = dir.path().join("home/alice");
    fs::create_dir_all(&fakes).unwrap();
    fs::create_dir_all(home.join(".cargo/bin")).unwrap();
    write_script(
        &fakes.join("getent"),
        &format!(
            "[ \"$2\" = alice ] && echo 'alice:x:1000:1000::{}:/bin/bash'",
            home.display()
        ),
    );
    let cargo = home.join(".cargo/bin/cargo");
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", fakes.display());
    let find = |user: &str| {
        Command::new(repo().join("scripts/find-cargo"))
            .env_clear()
            .env("PATH", &path)
            .env("HOME", "/nonexistent-home")
            .env("SUDO_USER", user)
            .output()
            .unwrap()
    };

    write_script(&cargo, "echo 'cargo 1.86.0 (adf9b6ad1 2025-02-28)'");
    let out = find("alice");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), cargo.to_str().unwrap());

    // Debian 12's toolchain is too old: the hint names both versions, and install stops.
    write_script(&cargo, "echo 'cargo 1.63.0'");
    let out = find("alice");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Rust 1.85 or newer") && stderr.contains("1.63.0"),
        "{stderr}"
    );
    let dest = tempfile::tempdir().unwrap();
    let out = install_without_cargo(
        dest.path(),
        Path::new("/nonexistent-home"),
        Some("alice"),
        &path,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(fs::read_dir(dest.path()).unwrap().count(), 0);
}
