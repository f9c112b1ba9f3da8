//! End-to-end tests of the `lbounds` binary: outputs, exit codes and one-line errors.
#![cfg(feature = "cli")]

mod common;

use common::{fails_with, ok};
use std::io::Write;

/// A directory of its own for one test, removed with everything in it on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lbounds-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    /// Writes `bytes` to `name` in the directory; returns its path.
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        path.to_str().unwrap().to_string()
    }
    /// The names in the directory, sorted.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A temporary CSV file that is removed on drop (with its directory).
struct Csv {
    _dir: Scratch,
    path: String,
}

impl Csv {
    fn new(name: &str, text: &str) -> Csv {
        let dir = Scratch::new(&format!("csv-{name}"));
        let path = dir.file(name, text.as_bytes());
        Csv { _dir: dir, path }
    }
    fn path(&self) -> &str {
        &self.path
    }
}

#[test]
fn help_teaches() {
    let text = ok(&["--help"]);
    for sub in ["simulate", "aggregate", "attack", "list"] {
        assert!(text.contains(sub), "--help lacks {sub}");
    }
    assert!(ok(&["simulate", "--help"]).contains("--byzantine"));
}

#[test]
fn aggregate_average_known_answer() {
    // By hand: mean of (1,2), (3,4), (8,0) = (4,2).
    let csv = Csv::new("avg.csv", "1,2\n3,4\n8,0\n");
    let out = ok(&["aggregate", "--rule", "average", "--input", csv.path()]);
    assert_eq!(out, "4.0,2.0\n");
    let out = ok(&[
        "aggregate",
        "--rule",
        "Average",
        "--input",
        csv.path(),
        "--json",
        "--repeat",
        "3",
        "--timing",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["aggregate"], serde_json::json!([4.0, 2.0]));
    assert!(v["seconds_per_call"].as_f64().unwrap() >= 0.0);
}

#[test]
fn aggregate_with_pre_aggregator() {
    // clipping(c=1) maps (3,4) to (0.6,0.8) and keeps (0,1); their mean is (0.3, 0.9).
    let csv = Csv::new("pre.csv", "3,4\n0,1\n");
    let out = ok(&[
        "aggregate",
        "--rule",
        "average",
        "--pre",
        "clipping:c=1",
        "--input",
        csv.path(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let agg: Vec<f64> = serde_json::from_value(v["aggregate"].clone()).unwrap();
    assert!(
        (agg[0] - 0.3).abs() < 1e-15 && (agg[1] - 0.9).abs() < 1e-15,
        "{agg:?}"
    );
}

#[test]
fn attack_sign_flipping_and_then_aggregate() {
    // Honest mean (2,0) → Byzantine vector (-2,-0); with 2 copies appended, the average of
    // (1,2), (3,-2), (-2,0), (-2,0) is (0,0).
    let csv = Csv::new("honest.csv", "1,2\n3,-2\n");
    let out = ok(&[
        "attack",
        "--attack",
        "sign_flipping",
        "--f",
        "2",
        "--input",
        csv.path(),
    ]);
    assert_eq!(out, "-2.0,-0.0\n");
    let out = ok(&[
        "attack",
        "--attack",
        "SignFlipping",
        "--f",
        "2",
        "--input",
        csv.path(),
        "--rule",
        "average",
        "--then-aggregate",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["byzantine"], serde_json::json!([-2.0, -0.0]));
    assert_eq!(v["aggregate"], serde_json::json!([0.0, 0.0]));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let good = Csv::new("good.csv", "1,2\n3,4\n5,6\n");
    let empty = Csv::new("empty.csv", "");
    let ragged = Csv::new("ragged.csv", "1,2\n3\n");
    let nan = Csv::new("nan.csv", "1,2\nNaN,4\n");
    let inf = Csv::new("inf.csv", "1,2\ninf,4\n");
    let g = good.path();
    fails_with(
        &["aggregate", "--rule", "averag", "--input", g],
        "did you mean `average`",
    );
    fails_with(
        &[
            "aggregate",
            "--rule",
            "average",
            "--param",
            "tua=1",
            "--input",
            g,
        ],
        "unknown parameter",
    );
    fails_with(
        &[
            "aggregate",
            "--rule",
            "average",
            "--param",
            "tau",
            "--input",
            g,
        ],
        "KEY=VALUE",
    );
    // A key given twice is refused, not settled by the last (it passed silently).
    fails_with(
        &[
            "bounds", "eval", "B1", "--param", "n=10", "--param", "n=20", "--param", "f=1",
        ],
        "--param n is given twice (10 and 20)",
    );
    fails_with(
        &["aggregate", "--rule", "average", "--input", empty.path()],
        "empty",
    );
    fails_with(
        &["aggregate", "--rule", "average", "--input", ragged.path()],
        "ragged",
    );
    // A row of `aggregate` may come from a Byzantine user: NaN and ±∞ are read (NaN as +∞),
    // and the average says it is not robust to them.
    fails_with(
        &["aggregate", "--rule", "average", "--input", nan.path()],
        "not robust",
    );
    fails_with(
        &["aggregate", "--rule", "average", "--input", inf.path()],
        "not robust",
    );
    fails_with(
        &[
            "attack",
            "--attack",
            "sign_flipping",
            "--f",
            "1",
            "--input",
            nan.path(),
        ],
        "not finite",
    );
    fails_with(
        &[
            "aggregate",
            "--rule",
            "average",
            "--input",
            "/nonexistent/x.csv",
        ],
        "--input",
    );
    fails_with(&["aggregate", "--rule", "average"], "--input");
    fails_with(
        &["attack", "--attack", "sign_flip", "--f", "1", "--input", g],
        "did you mean",
    );
    fails_with(
        &[
            "attack",
            "--attack",
            "sign_flipping",
            "--f",
            "0",
            "--input",
            g,
        ],
        "0",
    );
    fails_with(&["simulate", "--byzantine", "0.5"], "byzantine");
    fails_with(&["simulate", "--byzantine", "-0.1"], "byzantine");
    fails_with(&["simulate", "--byzantine", "NaN"], "byzantine");
    fails_with(&["simulate", "--d", "0"], "d");
    // Too large to hold in memory: refused up front, not an allocation abort.
    fails_with(
        &["simulate", "--n", "100000", "--d", "100000"],
        "exceeds the limit",
    );
    fails_with(&["simulate", "--rules", "krun"], "did you mean `krum`");
    fails_with(
        &[
            "simulate",
            "--rules",
            "bulyan",
            "--n",
            "10",
            "--byzantine",
            "0.2",
        ],
        "n >= 4f + 3",
    );
    fails_with(
        &[
            "simulate",
            "--attacks",
            "sign_flipping",
            "--noise",
            "gaussian:sigma=-1",
        ],
        "sigma",
    );
}

#[test]
fn list_names_every_family() {
    let out = ok(&["list", "--json"]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    for fam in ["aggregator", "pre_aggregator", "attack"] {
        assert!(v.iter().any(|r| r["family"] == fam), "no {fam}");
    }
}

/// The aggregate of `args` with `--json`, as a vector.
fn aggregate_json(args: &[&str]) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(&ok(args)).unwrap();
    serde_json::from_value(v["aggregate"].clone()).unwrap()
}

/// An .npy file as `np.save` writes it, made with npyz (the crate lbounds reads it with).
fn npy_bytes(shape: &[u64], order: npyz::Order, data: &[f64]) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(shape)
        .order(order)
        .writer(&mut buf)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    buf
}

#[test]
fn every_input_format_gives_the_same_aggregate() {
    // Three vectors (1,2), (3,4), (8,0): coordinate-wise median (3,2), by hand.
    let dir = Scratch::new("formats");
    let files = [
        dir.file("plain.csv", b"1,2\n3,4\n8,0\n"),
        dir.file("header.csv", b"x,y\n1,2\n3,4\n8,0\n"),
        dir.file("crlf_bom.csv", b"\xEF\xBB\xBFx,y\r\n1,2\r\n3,4\r\n8,0\r\n"),
        // NumPy's savetxt default: space-separated, %.18e, `# ` header line.
        dir.file(
            "savetxt.txt",
            b"# x y\n1.000000000000000000e+00 2.000000000000000000e+00\n\
              3.000000000000000000e+00 4.000000000000000000e+00\n\
              8.000000000000000000e+00 0.000000000000000000e+00\n",
        ),
        dir.file("tabs.tsv", b"x\ty\n1\t2\n3\t4\n8\t0\n"),
        dir.file(
            "c.npy",
            &npy_bytes(&[3, 2], npyz::Order::C, &[1.0, 2.0, 3.0, 4.0, 8.0, 0.0]),
        ),
        dir.file(
            "fortran.npy",
            &npy_bytes(
                &[3, 2],
                npyz::Order::Fortran,
                &[1.0, 3.0, 8.0, 2.0, 4.0, 0.0],
            ),
        ),
    ];
    for f in &files {
        let got = aggregate_json(&["aggregate", "--rule", "median", "--input", f, "--json"]);
        assert_eq!(got, vec![3.0, 2.0], "{f}");
    }
    // A numeric header row is data unless declared with --header.
    let numeric_header = dir.file("numeric_header.csv", b"0,1\n1,2\n3,4\n8,0\n");
    let got = aggregate_json(&[
        "aggregate",
        "--rule",
        "median",
        "--input",
        &numeric_header,
        "--header",
        "--json",
    ]);
    assert_eq!(got, vec![3.0, 2.0]);
    let got = aggregate_json(&[
        "aggregate",
        "--rule",
        "average",
        "--input",
        &numeric_header,
        "--json",
    ]);
    assert_eq!(got, vec![3.0, 1.75]);
    // Standard input, text and .npy alike.
    for stdin in [
        b"x y\n1 2\n3 4\n8 0\n".to_vec(),
        npy_bytes(&[3, 2], npyz::Order::C, &[1.0, 2.0, 3.0, 4.0, 8.0, 0.0]),
    ] {
        let out = common::lbounds()
            .args(["aggregate", "--rule", "median", "--input", "-"])
            .write_stdin(stdin)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "3.0,2.0\n");
    }
    // attack reads the same formats: sign flipping sends minus the honest mean (4, 2).
    let out = ok(&[
        "attack",
        "--attack",
        "sign_flipping",
        "--f",
        "1",
        "--input",
        &files[5],
    ]);
    assert_eq!(out, "-4.0,-2.0\n");
    let out = ok(&[
        "attack",
        "--attack",
        "sign_flipping",
        "--f",
        "1",
        "--input",
        &files[3],
    ]);
    assert_eq!(out, "-4.0,-2.0\n");
}

#[test]
fn malformed_inputs_are_one_line_exit_2() {
    let dir = Scratch::new("malformed");
    let one_d = dir.file(
        "one_d.npy",
        &npy_bytes(&[3], npyz::Order::C, &[1.0, 2.0, 3.0]),
    );
    fails_with(
        &["aggregate", "--rule", "median", "--input", &one_d],
        "reshape(-1, 1)",
    );
    let npz = dir.file("x.npz", b"PK\x03\x04rest of a zip");
    fails_with(
        &["aggregate", "--rule", "median", "--input", &npz],
        "np.save",
    );
    let mixed = dir.file("mixed.txt", b"1 2\n3,4\n");
    fails_with(
        &["aggregate", "--rule", "median", "--input", &mixed],
        "line 2",
    );
    let latin1 = dir.file("latin1.csv", b"1,2\n3,\xe9\n");
    fails_with(
        &["aggregate", "--rule", "median", "--input", &latin1],
        "not UTF-8",
    );
    let header_only = dir.file("header_only.csv", b"x,y\n");
    fails_with(
        &["aggregate", "--rule", "median", "--input", &header_only],
        "no vectors",
    );
    // A data line with one bad field is data, not a header: the error says how to declare one.
    let typo = dir.file("typo.csv", b"1,2x\n3,4\n");
    fails_with(
        &["aggregate", "--rule", "median", "--input", &typo],
        "--header",
    );
    fails_with(
        &[
            "aggregate",
            "--rule",
            "median",
            "--input",
            dir.0.to_str().unwrap(),
        ],
        "--input",
    );
}

#[test]
fn hostile_input_is_escaped_and_shortened_in_errors() {
    let dir = Scratch::new("hostile");
    let big = "9".repeat(300);
    let cases: Vec<Vec<String>> = vec![
        // An ANSI colour sequence, a bidi override and NUL in a data field.
        vec![
            "aggregate".into(),
            "--rule".into(),
            "median".into(),
            "--input".into(),
            dir.file("esc.csv", b"1,2\n3,\x1b[31m\xe2\x80\xaeevil\x00\n"),
        ],
        // A 300-digit field, and a 300-digit flag value (a clap error).
        vec![
            "aggregate".into(),
            "--rule".into(),
            "median".into(),
            "--input".into(),
            dir.file("big.csv", format!("1,2\n3,{big}x\n").as_bytes()),
        ],
        vec![
            "aggregate".into(),
            "--rule".into(),
            "median".into(),
            "--f".into(),
            big.clone(),
            "--input".into(),
            "x".into(),
        ],
        // A control character in a name (unknown rule).
        vec![
            "aggregate".into(),
            "--rule".into(),
            "med\x1b[2Jian".into(),
            "--input".into(),
            "x".into(),
        ],
    ];
    for args in &cases {
        let out = common::lbounds().args(args).output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            !stderr
                .trim_end()
                .chars()
                .any(|c| c.is_control() || c == '\u{202e}'),
            "raw control characters in {stderr:?}"
        );
        assert!(
            !stderr.contains(&"9".repeat(100)),
            "not shortened: {stderr}"
        );
        assert!(stderr.len() < 400, "{stderr}");
    }
}

#[test]
fn attack_refuses_an_absurd_f_before_allocating() {
    let csv = Csv::new("absurd_f.csv", "1,2\n3,4\n");
    for f in ["100000000000", "18446744073709551615"] {
        fails_with(
            &[
                "attack",
                "--attack",
                "sign_flipping",
                "--f",
                f,
                "--input",
                csv.path(),
            ],
            "exceed the limit",
        );
    }
}

#[test]
fn out_that_is_a_file_is_exit_2_and_leaves_nothing_behind() {
    let dir = Scratch::new("outfile");
    let out = dir.file("not_a_dir", b"keep me");
    let before = dir.listing();
    fails_with(
        &[
            "sweep",
            "run",
            "examples/sweeps/breakdown.toml",
            "--out",
            &out,
        ],
        "is a file; a sweep writes into a directory",
    );
    let inside = format!("{out}/sub");
    fails_with(
        &[
            "sweep",
            "run",
            "examples/sweeps/breakdown.toml",
            "--out",
            &inside,
        ],
        "is a file, but a directory is needed there",
    );
    assert_eq!(dir.listing(), before, "files left behind");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn json_outputs_are_json() {
    let csv = Csv::new("json.csv", "1,2\n3,4\n8,0\n");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "attack",
        "--attack",
        "two_world",
        "--f",
        "2",
        "--input",
        csv.path(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["attack"], "two_world");
    assert_eq!(v["f"], 2);
    assert!(v["byzantine"].is_array(), "{v}");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "aggregate",
        "--rule",
        "trmean",
        "--f",
        "1",
        "--input",
        csv.path(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["rule"], "trmean");
    assert_eq!(v["aggregate"], serde_json::json!([3.0, 2.0]));
}

#[test]
fn timing_leaves_the_aggregate_unchanged_and_reports_the_median_call() {
    // A randomized pipeline (bucketing shuffles with the seed's stream; buckets of 2, 2 and 1
    // make the median of the bucket means depend on the shuffle): the warm-up call must not
    // shift the draws of the printed call.
    let csv = Csv::new("timing.csv", "1\n10\n100\n1000\n10000\n");
    let base = [
        "aggregate",
        "--rule",
        "median",
        "--pre",
        "bucketing:s=2",
        "--input",
        csv.path(),
        "--json",
        "--repeat",
        "3",
    ];
    let plain: serde_json::Value = serde_json::from_str(&ok(&base)).unwrap();
    let mut args = base.to_vec();
    args.push("--timing");
    let timed: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(plain["aggregate"], timed["aggregate"]);
    let (med, min, mean) = (
        timed["seconds_per_call"].as_f64().unwrap(),
        timed["seconds_min"].as_f64().unwrap(),
        timed["seconds_mean"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= med && min <= mean, "{timed}");
    assert_eq!(timed["repeat"], 3);
}

/// `--compat byzfl` with a rule (or pre-aggregator) that ByzFL 0.0.11 does not have is exit 2
/// with one stderr line naming the rule, never a silent native run (issue 12, point 3). Fails
/// if `require_in_byzfl` stops refusing (checked: making it return `Ok(())` unconditionally
/// makes `aggregate` print a native aggregate with exit 0).
#[test]
fn compat_byzfl_refuses_rules_byzfl_lacks() {
    let csv = Csv::new(
        "byzfl-lacks.csv",
        "1,2\n1.1,2.1\n0.9,1.9\n1.05,2.05\n0.95,1.95\n1,2\n1.02,2.02\n100,100\n",
    );
    for rule in ["bulyan", "dnc", "spectral"] {
        fails_with(
            &[
                "aggregate",
                "--compat",
                "byzfl",
                "--rule",
                rule,
                "--f",
                "1",
                "--input",
                csv.path(),
            ],
            &format!("`{rule}` does not exist in ByzFL"),
        );
        // The same rule runs natively: the refusal is about ByzFL, not the input.
        ok(&[
            "aggregate",
            "--rule",
            rule,
            "--f",
            "1",
            "--input",
            csv.path(),
        ]);
    }
}

/// A rule or pre-aggregator whose meaning depends on f (trmean, krum, the nnm pre-aggregator)
/// run without `--f` is exit 2 with one line telling the user to declare it, never a silent
/// f = 0 (where trmean is the plain average; issue 12, point 3). Rules that ignore f still run
/// without it. Fails if the `depends_on_f` check in the CLI's pipeline builder is dropped
/// (checked: with the check disabled, `--rule trmean` without `--f` exits 0 with the average).
#[test]
fn f_dependent_rules_require_a_declared_f() {
    let csv = Csv::new("needs-f.csv", "1,2\n1.1,2.1\n0.9,1.9\n1.05,2.05\n100,100\n");
    for rule in ["trmean", "krum"] {
        fails_with(
            &["aggregate", "--rule", rule, "--input", csv.path()],
            "declare it with --f",
        );
        ok(&[
            "aggregate",
            "--rule",
            rule,
            "--f",
            "1",
            "--input",
            csv.path(),
        ]);
    }
    fails_with(
        &[
            "aggregate",
            "--rule",
            "average",
            "--pre",
            "nnm",
            "--input",
            csv.path(),
        ],
        "`nnm` depends on the number f",
    );
    // The step parameter is a declaration too, and --f 0 is an explicit choice.
    ok(&["aggregate", "--rule", "trmean:f=1", "--input", csv.path()]);
    ok(&[
        "aggregate",
        "--rule",
        "trmean",
        "--f",
        "0",
        "--input",
        csv.path(),
    ]);
    // Median ignores f: no declaration needed.
    ok(&["aggregate", "--rule", "median", "--input", csv.path()]);
}
