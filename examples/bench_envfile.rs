//! Times reading a 1 MiB `.env` (the largest cipug reads): the lossless parse, the three
//! compose tools' readings with the pin entries, and one checked edit. Run by
//! `scripts/bench-envfile`; prints numbers, asserts nothing but that the files parse.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use cipug::formats::dialects;
use cipug::formats::envfile::EnvFile;
use cipug::formats::pins::image_entries;

const MIB: usize = 1 << 20;

/// Lines from `line(i)` until the text is just under 1 MiB.
fn file(line: impl Fn(usize) -> String) -> String {
    let mut text = String::with_capacity(MIB);
    for i in 0.. {
        let next = line(i);
        if text.len() + next.len() > MIB {
            break;
        }
        text.push_str(&next);
    }
    text
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let pin = format!("127.0.0.1:5000/app@sha256:{}", "0".repeat(64));
    let files = [
        (
            "plain KEY=value lines",
            file(|i| format!("KEY_{i}=value-{i}\n")),
        ),
        (
            "TAGGED + HASHED pairs",
            file(|i| {
                format!(
                    "SERVICE_A{i}_IMAGE_TAGGED=127.0.0.1:5000/app{i}:1\nSERVICE_A{i}_IMAGE_HASHED={pin}\n"
                )
            }),
        ),
        (
            "comments, quotes, interpolation",
            file(|i| format!("# entry {i}\nexport V{i}=\"a b\\n${{V0:-x}}\" # c\nW{i}='x\ny'\r\n")),
        ),
    ];
    println!(
        "{:<34} {:>7} {:>9} {:>10} {:>10} {:>10}",
        "1 MiB .env of", "lines", "parse s", "readings s", "entries s", "edit s"
    );
    for (name, text) in &files {
        let lines = text.lines().count();
        let parse = time(runs, || {
            EnvFile::parse(text.as_bytes()).unwrap();
        });
        let env = EnvFile::parse(text.as_bytes()).unwrap();
        let readings = time(runs, || {
            dialects::read_all(text).unwrap();
        });
        let entries = time(runs, || {
            image_entries(&env).unwrap();
        });
        let edit = time(runs, || {
            let mut after = env.clone();
            after.set("SERVICE_NEW_IMAGE_HASHED", &pin, None);
            let pins = [("SERVICE_NEW_IMAGE_HASHED".to_owned(), pin.clone())];
            dialects::check_edit(env.render(), after.render(), &pins).unwrap();
        });
        println!(
            "{name:<34} {lines:>7} {parse:>9.4} {readings:>10.4} {entries:>10.4} {edit:>10.4}"
        );
    }
}
