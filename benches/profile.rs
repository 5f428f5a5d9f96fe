//! `cargo bench --bench profile`: single-threaded profiling throughput on a
//! generated 1M-row × 8-column CSV (about 80 MB, mixed types like seed 2's
//! example), fed in 1 MiB chunks as an upload would feed it.

use std::fmt::Write as _;
use std::time::Instant;

use depot::profile::{Format, Profiler};

const ROWS: usize = 1_000_000;
const CHUNK: usize = 1024 * 1024;
const RUNS: usize = 5;

fn main() {
    let csv = generate();
    let megabytes = csv.len() as f64 / 1e6;
    println!("profile: {ROWS} rows × 8 columns, {megabytes:.1} MB, {CHUNK} B chunks");
    let mut rates = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut profiler = Profiler::new(Format::Csv).expect("CSV streams");
        for chunk in csv.chunks(CHUNK) {
            profiler.push(chunk).expect("valid CSV");
        }
        let profile = profiler.finish().expect("valid CSV").expect("profiled");
        let seconds = start.elapsed().as_secs_f64();
        assert_eq!(profile.rows, ROWS as u64);
        rates.push(megabytes / seconds);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "throughput MB/s: min {:.0}, median {:.0}, max {:.0}",
        rates[0],
        rates[RUNS / 2],
        rates[RUNS - 1]
    );
}

/// Deterministic data: dates, categories, prices with some missing, integers,
/// ids, booleans and free text.
fn generate() -> Vec<u8> {
    let products = ["widget", "gadget", "gizmo", "doohickey", "sprocket"];
    let regions = ["north", "south", "east", "west"];
    let mut text = String::with_capacity(ROWS * 80);
    text.push_str("date,product,sales,region,quantity,customer_id,returned,comment\n");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for row in 0..ROWS {
        let day = row % 1461;
        let (year, day_of_year) = (2020 + day / 365, day % 365);
        let (month, day_of_month) = (1 + day_of_year / 31 % 12, 1 + day_of_year % 28);
        let sales = if row % 97 == 0 {
            String::new()
        } else {
            format!("{}.{:02}", next() % 10_000, next() % 100)
        };
        let _ = writeln!(
            text,
            "{year}-{month:02}-{day_of_month:02},{},{sales},{},{},{},{},\"note, number {}\"",
            products[(next() % 5) as usize],
            regions[(next() % 4) as usize],
            1 + next() % 50,
            100_000 + row,
            if next() % 2 == 0 { "True" } else { "False" },
            next() % 5000,
        );
    }
    text.into_bytes()
}
