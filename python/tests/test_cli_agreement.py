"""Every rule, pre-aggregator, attack, accountant, bound and audit from Python agrees with the
release CLI (`lbounds ... --json`) on the same inputs, to the bit: both run the same library
code on the same f64 values with the same seed (the CLI reads the input from a .npy file
written by NumPy, which round-trips float64 exactly)."""

import numpy as np
import pytest

import lbounds

RNG = np.random.default_rng(20250606)
X = RNG.normal(size=(23, 17))
X[3] *= 50.0  # an outlier, so robust rules and the average disagree
HONEST = RNG.normal(loc=0.5, size=(15, 17))


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    np.save(d / "x.npy", X)
    np.save(d / "honest.npy", HONEST)
    return d


def as_float(v):
    return np.array([float(t) for t in v])


@pytest.mark.parametrize("rule", [r["name"] for r in lbounds.rules()])
@pytest.mark.parametrize("compat", ["native", "byzfl"])
def test_every_rule_agrees_with_the_cli(cli, npy, rule, compat):
    spec = next(r for r in lbounds.rules() if r["name"] == rule)
    if compat == "byzfl" and spec["byzfl"] is None:
        with pytest.raises(lbounds.LboundsError, match="does not exist in ByzFL"):
            lbounds.aggregate(X, rule, f=3, compat=compat)
        return
    got = lbounds.aggregate(X, rule, f=3, compat=compat, seed=7)
    want = cli("aggregate", "--rule", rule, "--f", 3, "--compat", compat, "--seed", 7,
               "--input", npy / "x.npy", "--json")
    assert want["rule"] == rule
    np.testing.assert_array_equal(got, as_float(want["aggregate"]))
    assert not np.allclose(got, X.mean(axis=0)) or rule == "average"


@pytest.mark.parametrize("pre", [r["name"] for r in lbounds.pre_aggregators()])
def test_pipelines_agree_with_the_cli(cli, npy, pre):
    got = lbounds.aggregate(X, "trmean", f=3, pre=[pre], seed=3)
    want = cli("aggregate", "--rule", "trmean", "--f", 3, "--pre", pre, "--seed", 3,
               "--input", npy / "x.npy", "--json")
    np.testing.assert_array_equal(got, as_float(want["aggregate"]))


def test_params_and_step_strings_agree_with_the_cli(cli, npy):
    got = lbounds.aggregate(X, "geometric_median", params={"nu": 0.5, "T": 7},
                            pre=[("clipping", {"c": 3.0})], compat="byzfl")
    want = cli("aggregate", "--rule", "geometric_median:nu=0.5", "--param", "T=7",
               "--pre", "clipping:c=3", "--compat", "byzfl", "--input", npy / "x.npy", "--json")
    np.testing.assert_array_equal(got, as_float(want["aggregate"]))


@pytest.mark.parametrize("attack", [a["name"] for a in lbounds.attacks()])
def test_every_attack_agrees_with_the_cli(cli, npy, attack):
    args = ["--rule", "trmean"] if attack.startswith(("optimal", "min_")) else []
    got = lbounds.attack(HONEST, attack, 4, rule=args[1] if args else None, seed=5)
    want = cli("attack", "--attack", attack, "--f", 4, "--seed", 5, *args,
               "--input", npy / "honest.npy", "--json")
    b = want["byzantine"]
    rows = [b] * 4 if not isinstance(b[0], list) else b
    np.testing.assert_array_equal(got, np.array([as_float(r) for r in rows]))


SCHEDULES = [(0.004267, 1.1, 14060, 1e-5), (0.01, 0.8, 1000, 1e-6), (1.0, 5.0, 3, 1e-3)]


@pytest.mark.parametrize("accountant", ["rdp", "pld"])
@pytest.mark.parametrize("q,sigma,steps,delta", SCHEDULES)
def test_accountants_agree_with_the_cli(cli, accountant, q, sigma, steps, delta):
    e = lbounds.privacy.epsilon(q, sigma, steps, delta, accountant=accountant)
    want = cli("privacy", "epsilon", "--accountant", accountant, "--sampling-rate", q,
               "--noise-multiplier", sigma, "--steps", steps, "--delta", delta, "--json")
    assert e == want["epsilon"]
    d = lbounds.privacy.delta(q, sigma, steps, e, accountant=accountant)
    want = cli("privacy", "epsilon", "--accountant", accountant, "--sampling-rate", q,
               "--noise-multiplier", sigma, "--steps", steps, "--epsilon", repr(e), "--json")
    assert d == want["delta"]


@pytest.mark.parametrize("accountant", ["rdp", "pld"])
def test_noise_calibration_agrees_with_the_cli(cli, accountant):
    s = lbounds.privacy.noise_multiplier(0.01, 500, 2.0, 1e-5, accountant=accountant)
    want = cli("privacy", "noise", "--accountant", accountant, "--sampling-rate", 0.01,
               "--steps", 500, "--epsilon", 2.0, "--delta", 1e-5, "--json")
    assert s == want["noise_multiplier"]


def test_analytic_gaussian_agrees_with_the_cli(cli):
    for eps, delta, sens in [(1.0, 1e-5, 1.0), (0.1, 1e-6, 2.0), (8.0, 1e-3, 0.5)]:
        want = cli("privacy", "gaussian", "--epsilon", eps, "--delta", delta,
                   "--sensitivity", sens, "--json")
        assert lbounds.privacy.analytic_gaussian_sigma(eps, delta, sens) == want["sigma"]


def test_bounds_agree_with_the_cli(cli):
    assert lbounds.bounds.list() == cli("bounds", "list", "--json")
    for entry in lbounds.bounds.list():
        assert [lbounds.bounds.show(entry["id"])] == cli("bounds", "show", entry["id"], "--json")
    assert lbounds.bounds.eval("B1", n=20, f=3) == cli(
        "bounds", "eval", "B1", "--param", "n=20", "--param", "f=3", "--json")


def test_audits_agree_with_the_cli(cli, tmp_path):
    got = lbounds.audit.epsilon(1000, 1000, 1000, 0)
    assert got == cli("audit", "epsilon", "--positives", 1000, "--true-positives", 1000,
                      "--negatives", 1000, "--false-positives", 0, "--json")
    assert abs(got["epsilon_lower"] - 5.601) < 5e-4  # the CLI's documented known answer
    m, nm = RNG.normal(1.0, size=300), RNG.normal(size=300)
    # repr of a Python float round-trips the f64 exactly.
    (tmp_path / "m.txt").write_text("\n".join(repr(float(v)) for v in m))
    (tmp_path / "nm.txt").write_text("\n".join(repr(float(v)) for v in nm))
    assert lbounds.audit.scores(m, nm, delta=1e-5) == cli(
        "audit", "scores", "--members", tmp_path / "m.txt", "--non-members",
        tmp_path / "nm.txt", "--delta", 1e-5, "--json")
    assert lbounds.audit.gdp(1.0, 1e-5) == cli("audit", "gdp", "--mu", 1, "--delta", 1e-5,
                                               "--json")["epsilon"]
    assert lbounds.audit.one_run(1000, 200, 190) == cli(
        "audit", "one-run", "--canaries", 1000, "--guesses", 200, "--correct", 190, "--json")


def test_simulate_agrees_with_the_cli(cli):
    got = lbounds.simulate(n=20, d=4, rules=["median", "krum"], pre=["nnm"],
                           attacks=["sign_flipping", "a_little_is_enough"], replicates=3,
                           seed=11, as_frame=False)
    want = cli("simulate", "--n", 20, "--d", 4, "--rules", "median,krum", "--pre", "nnm",
               "--attacks", "sign_flipping,a_little_is_enough", "--replicates", 3,
               "--seed", 11, "--json")
    assert len(got) == len(want) == 12
    assert got == want  # the catalogue bounds at the setting included


def test_simulate_returns_a_dataframe_when_pandas_is_installed():
    kw = dict(n=10, d=2, rules=["median"], attacks=["sign_flipping"], replicates=2)
    recs = lbounds.simulate(as_frame=False, **kw)
    assert isinstance(recs, list) and len(recs) == 2
    try:
        import pandas  # noqa: F401
    except ImportError:
        assert lbounds.simulate(**kw) == recs
        with pytest.raises(ImportError):
            lbounds.simulate(as_frame=True, **kw)
        return
    frame = lbounds.simulate(**kw)
    assert list(frame["output.error"]) == [r["output"]["error"] for r in recs]
