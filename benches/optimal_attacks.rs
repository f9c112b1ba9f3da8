//! One Optimal_ALIE `corrupt` (ByzFL's 20-evaluation search) against NNM + TrMean, at the
//! sizes of ByzFL's timing table (../shared reference): 40 honest vectors, f = 10 Byzantine
//! copies, d = 7 850 (softmax regression 784→10) and d = 79 510 (MLP 784-100-10). Run with
//! `RAYON_NUM_THREADS=1` for ByzFL's one-thread column (its D-SGD round with this attack:
//! 1.36 s and 17.04 s).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lbounds::aggregators::{AggContext, PipelineSpec, StepSpec};
use lbounds::attacks::AttackContext;
use lbounds::data::Updates;
use lbounds::params::{Compat, Params};
use lbounds::rng::rng_named;
use nalgebra::DMatrix;
use rand::RngExt;
use std::time::Duration;

/// 40 vectors that look like client momenta: a common gradient g (coordinate scales spread
/// over two decades, as across an MLP's layers) plus per-client noise of comparable size.
fn momenta(d: usize) -> Updates {
    let mut rng = rng_named(0, 0, "momenta");
    let scale: Vec<f64> = (0..d)
        .map(|_| 10f64.powf(-2.0 * rng.random::<f64>()))
        .collect();
    let g: Vec<f64> = scale
        .iter()
        .map(|s| s * (rng.random::<f64>() - 0.5))
        .collect();
    let m = DMatrix::from_fn(d, 40, |c, _| {
        g[c] + 0.7 * scale[c] * (rng.random::<f64>() + rng.random::<f64>() - 1.0)
    });
    Updates::new(m).unwrap()
}

fn nnm_trmean() -> PipelineSpec {
    let f10 = |name: &str| {
        let mut s = StepSpec::named(name);
        s.params.set("f", 10.0);
        s
    };
    PipelineSpec {
        rule: f10("trmean"),
        pre: vec![f10("nnm")],
    }
}

fn bench(c: &mut Criterion) {
    let defence = nnm_trmean().build(Compat::Native).unwrap();
    let attack =
        lbounds::attacks::build("optimal_a_little_is_enough", &Params::new(), Compat::Native)
            .unwrap();
    let mut g = c.benchmark_group("optimal_alie_vs_nnm_trmean_n40_f10");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for d in [7_850, 79_510] {
        let honest = momenta(d);
        g.bench_with_input(BenchmarkId::new("corrupt", d), &honest, |b, h| {
            let mut rng = rng_named(0, 0, "attack");
            b.iter(|| {
                let mut cx = AttackContext {
                    rng: &mut rng,
                    defence: Some(&defence),
                    defence_state: None,
                };
                attack.corrupt(h.view(), 10, &mut cx).unwrap()
            })
        });
        // One generic defence evaluation on honest ∪ 10 copies, for scale.
        let mut all = honest.clone().into_matrix().resize_horizontally(50, 0.0);
        for k in 40..50 {
            let c0 = all.column(0).clone_owned();
            all.column_mut(k).copy_from(&c0);
        }
        let all = Updates::new(all).unwrap();
        g.bench_with_input(BenchmarkId::new("one_pipeline_run", d), &all, |b, x| {
            let mut rng = rng_named(0, 0, "run");
            b.iter(|| {
                defence
                    .run(x.view(), &mut AggContext::new(&mut rng))
                    .unwrap()
            })
        });
        let trmean =
            lbounds::aggregators::build("trmean", &Params::new().with("f", 10.0), Compat::Native)
                .unwrap();
        g.bench_with_input(BenchmarkId::new("one_trmean", d), &all, |b, x| {
            let mut rng = rng_named(0, 0, "run");
            b.iter(|| {
                trmean
                    .aggregate(x.view(), &mut AggContext::new(&mut rng))
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
