//! Quickstart: sample a population with 10% Byzantine users, let them run "a little is
//! enough", and compare the plain average with the coordinate-wise median and the lower bound.
//!
//! Run: `cargo run --release --example quickstart`

use lbounds::aggregators::{self, AggContext};
use lbounds::attacks::{self, AttackContext};
use lbounds::bounds::huber1964::{gaussian_bias, Contamination};
use lbounds::data::population::{Population, PopulationConfig};
use lbounds::params::{Compat, Params};
use lbounds::rng::rng_for;

fn main() -> lbounds::Result<()> {
    let config = PopulationConfig {
        n: 50,
        d: 10,
        byzantine_fraction: 0.1,
        ..PopulationConfig::default()
    };
    let mut rng = rng_for(42, 0, 0)?;
    let pop = Population::sample(&config, &mut rng)?;
    let honest = pop.honest_updates();
    let f = pop.f();

    let attack = attacks::build("a_little_is_enough", &Params::new(), Compat::Native)?;
    let byz = attack.corrupt(honest.view(), f, &mut AttackContext::new(&mut rng))?;
    let all = honest.concat(&byz)?;

    let truth = pop.population_mean();
    for rule in ["average", "median", "trmean"] {
        let agg = aggregators::build(rule, &Params::new().with("f", f as f64), Compat::Native)?;
        let out = agg.aggregate(all.view(), &mut AggContext::new(&mut rng))?;
        println!("{rule:>8}: error {:.4}", (out - &truth).norm());
    }
    if let Some(sigma) = pop.update_sigma() {
        let eta = f as f64 / pop.n() as f64;
        let b = gaussian_bias(sigma, eta, Contamination::Huber)?;
        println!("no estimator can guarantee error below {b:.4} (R1, Huber 1964)");
    }
    Ok(())
}
