//! `lbounds plot` and `lbounds figures`: figures from any sweep's records, from any directory.
#![cfg(all(feature = "cli", feature = "plot"))]

mod common;

use common::{fails_with, lbounds, ok};
use std::path::{Path, PathBuf};

const CONFIG: &str = r#"
name = "mine"
experiment = "robust"
seed = 2
replicates = 4

[grid]
rule = ["average", "median", "krum"]
attack = "sign_flipping"
byzantine_fraction = [0.0, 0.2, 0.45]
n = 12
d = 3
"#;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lbounds-plot-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn plot_draws_any_metric_of_any_sweep() {
    let base = tmp("any");
    let cfg = base.join("c.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let run = base.join("run");
    ok(&["sweep", "run", s(&cfg), "--out", s(&run)]);
    let svg = base.join("err.svg");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "plot",
        s(&run.join("records.jsonl")),
        "--x",
        "byzantine_fraction",
        "--y",
        "error",
        "--by",
        "rule",
        "--logy",
        "--out",
        s(&svg),
        "--json",
    ]))
    .unwrap();
    let r = &v["report"];
    // 36 records; krum cannot run at f = 5 of 12 (n > 2f + 2 fails): 4 without metrics.
    assert_eq!(r["records"], 36);
    assert_eq!(r["without_metrics"], 4);
    assert_eq!(r["plotted"], 32);
    let curves = r["curves"].as_array().unwrap();
    let labels: Vec<&str> = curves.iter().map(|c| c[0].as_str().unwrap()).collect();
    assert_eq!(labels, ["average", "median", "krum"]);
    // Each point is the mean of the 4 replicates; krum has 2 fractions, the others 3.
    assert_eq!(curves[0][1].as_array().unwrap().len(), 3);
    assert_eq!(curves[2][1].as_array().unwrap().len(), 2);
    assert!(curves[0][1].as_array().unwrap().iter().all(|p| p[3] == 4));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("median") && text.contains("byzantine_fraction")
    );
    // PNG from a sweep directory, without --by (one curve named after the metric).
    let png = base.join("k.png");
    let msg = ok(&[
        "plot",
        s(&run),
        "--x",
        "n",
        "--y",
        "kappa_hat",
        "--out",
        s(&png),
    ]);
    assert!(msg.contains("1 curve(s) of kappa_hat vs n"), "{msg}");
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    // Bad keys and outputs: exit 2, one line, nothing written.
    let bad = base.join("bad.svg");
    let records = run.join("records.jsonl");
    fails_with(
        &[
            "plot",
            s(&records),
            "--x",
            "eta_x",
            "--y",
            "error",
            "--out",
            s(&bad),
        ],
        "keys there: attack, byzantine_fraction",
    );
    fails_with(
        &[
            "plot",
            s(&records),
            "--x",
            "rule",
            "--y",
            "error",
            "--out",
            s(&bad),
        ],
        "use it as --by",
    );
    fails_with(
        &[
            "plot",
            s(&records),
            "--x",
            "n",
            "--y",
            "error",
            "--out",
            s(&base.join("x.pdf")),
        ],
        ".svg or .png",
    );
    let left: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp") || n.starts_with("bad") || n.starts_with("x."))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn figures_state_what_a_supremum_bound_means_and_run_from_anywhere() {
    let base = tmp("fig");
    let cfg = base.join("breakdown.toml");
    std::fs::write(
        &cfg,
        CONFIG
            .replace("name = \"mine\"", "name = \"breakdown\"")
            .replace("replicates = 4", "replicates = 2"),
    )
    .unwrap();
    let run = base.join("run");
    ok(&["sweep", "run", s(&cfg), "--out", s(&run)]);
    let out = base.join("figs");
    let v: serde_json::Value = serde_json::from_str(&ok(&[
        "figures",
        "--records",
        s(&run.join("records.jsonl")),
        "--out",
        s(&out),
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["figures"].as_array().unwrap().len(), 2);
    // Skipped: fig3–fig6, the training figures fig7–fig9, the audit figures fig10–fig12 and
    // the memorization figures fig13–fig16 (no records of their sweeps).
    assert_eq!(v["skipped"].as_array().unwrap().len(), 14);
    let fig2 = std::fs::read_to_string(out.join("fig2_kappa_vs_fraction.svg")).unwrap();
    assert!(
        fig2.contains("supremum over instances"),
        "fig2 says what its bound is"
    );
    // The built-in configs are found from any directory: a bad --out fails after they load.
    let file = base.join("afile");
    std::fs::write(&file, "x").unwrap();
    let o = lbounds()
        .current_dir(&base)
        .args(["figures", "--out", s(&file)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a file"));
    let _ = std::fs::remove_dir_all(&base);
}
