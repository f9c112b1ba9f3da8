"""The training audits (`lbounds.audit.exposure / dpsgd / mia`), `attack(..., then_aggregate=True)`
and `simulate`'s bounds agree with the release CLI's `--json` on the same small configurations,
value for value (both call the same library code with the same seeds; Python parses the same
JSON text the CLI prints); bad input is a TypeError or an LboundsError with the CLI's message.
Each configuration trains in well under a second in release."""

import numpy as np
import pytest

import lbounds

# Small enough to train in a fraction of a second, large enough that every part runs: a
# two-digit canary (100 candidates), DP-SGD calibrated by the accountant, four shadow models.
EXPOSURE = dict(insertions=2, digits=2, tokens=300, context=2, hidden=4, epochs=2, batch=32,
                references=20, seed=3)
DPSGD = dict(runs=4, sample_rate=0.5, epochs=1, seed=2)
MIA = dict(models=4, records=800, features=4, targets=2, epochs=3, seed=1, data_seed=2)


def flags(kw):
    """Python keyword arguments as the CLI's flags (`sample_rate=0.5` -> `--sample-rate 0.5`;
    `one_run=True` -> `--one-run`)."""
    out = []
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            out.append(flag)
        elif v is not False and v is not None:
            out += [flag, v]
    return out


@pytest.mark.parametrize("extra", [{}, {"epsilon": 8.0}])
def test_exposure_agrees_with_the_cli(cli, extra):
    kw = {**EXPOSURE, **extra}
    got = lbounds.audit.exposure(**kw)
    want = cli("audit", "exposure", *flags(kw), "--json")
    # The wall time is the one field two identical runs do not share.
    assert isinstance(got.pop("seconds"), float)
    want.pop("seconds")
    assert got == want
    assert got["log2_space"] == pytest.approx(np.log2(100))  # 10^2 candidates
    assert (got["epsilon"] is None) == ("epsilon" not in extra)


@pytest.mark.parametrize("extra", [{}, {"planted_bug": "reused-noise"},
                                   {"one_run": True, "canaries": 200, "guesses": 20}])
def test_dpsgd_agrees_with_the_cli(cli, extra):
    kw = {**DPSGD, **extra}
    if kw.get("one_run"):
        kw.pop("runs")
    got = lbounds.audit.dpsgd(4.0, **kw)
    want = cli("audit", "dpsgd", "--epsilon", 4.0, *flags(kw), "--json")
    assert got == want
    assert got["epsilon_target"] == 4.0 and got["method"] == want["method"]


@pytest.mark.parametrize("extra", [{}, {"roc": True}, {"model": "mlp", "hidden": 3}])
def test_mia_agrees_with_the_cli(cli, extra):
    kw = {**MIA, **extra}
    got = lbounds.audit.mia(**kw)
    want = cli("audit", "mia", *flags(kw), "--json")
    assert got == want
    assert len(got["attacks"]) > 1
    assert all(("roc" in a) == bool(extra.get("roc")) for a in got["attacks"])


def test_mia_cache_is_shared_with_the_cli(cli, tmp_path):
    first = lbounds.audit.mia(cache=tmp_path, **MIA)
    assert first["trained"] == MIA["models"]
    want = cli("audit", "mia", *flags(MIA), "--cache", tmp_path, "--json")
    assert want["cached"] == MIA["models"] and want["trained"] == 0
    for k in ("cached", "trained"):
        first.pop(k), want.pop(k)
    assert first == want


# Bad input: a Python value of the wrong type is a TypeError before any work; a value out of
# its domain is an LboundsError whose message is the CLI's error line (same library check).
@pytest.mark.parametrize("call,argv", [
    (lambda: lbounds.audit.exposure(digits=9), ["audit", "exposure", "--digits", 9]),
    (lambda: lbounds.audit.exposure(lr=-1.0), ["audit", "exposure", "--lr", -1]),
    (lambda: lbounds.audit.exposure(epsilon=0.0), ["audit", "exposure", "--epsilon", 0]),
    (lambda: lbounds.audit.exposure(backend="tpu"), ["audit", "exposure", "--backend", "tpu"]),
    (lambda: lbounds.audit.dpsgd(-1.0), ["audit", "dpsgd", "--epsilon", -1]),
    (lambda: lbounds.audit.dpsgd(1.0, planted_bug="bogus"),
     ["audit", "dpsgd", "--epsilon", 1, "--planted-bug", "bogus"]),
    (lambda: lbounds.audit.dpsgd(1.0, sample_rate=2.0),
     ["audit", "dpsgd", "--epsilon", 1, "--sample-rate", 2]),
    (lambda: lbounds.audit.mia(models=5), ["audit", "mia", "--models", 5]),
    (lambda: lbounds.audit.mia(epsilon=-2.0, models=4), ["audit", "mia", "--epsilon", -2,
                                                          "--models", 4]),
])
def test_training_audit_errors_carry_the_cli_message(cli, call, argv):
    with pytest.raises(lbounds.LboundsError) as e:
        call()
    assert cli(*argv, ok=False) == "error: " + str(e.value)


@pytest.mark.parametrize("call", [
    lambda: lbounds.audit.exposure(digits="6"),
    lambda: lbounds.audit.exposure(epsilon="big"),
    lambda: lbounds.audit.dpsgd("1"),
    lambda: lbounds.audit.dpsgd(1.0, runs=2.5),
    lambda: lbounds.audit.mia(models=[4]),
    lambda: lbounds.audit.mia(cache=3),
])
def test_training_audits_refuse_wrong_types(call):
    with pytest.raises(TypeError):
        call()


@pytest.mark.parametrize("call,match", [
    (lambda: lbounds.audit.exposure(tokens=-1), "`tokens` = -1"),
    (lambda: lbounds.audit.dpsgd(1.0, one_run=True, runs=5), "`runs`"),
    (lambda: lbounds.audit.dpsgd(1.0, canaries=5), "`canaries`"),
    (lambda: lbounds.audit.dpsgd(1.0, runs=2**40), "`runs`"),
    (lambda: lbounds.audit.mia(model="cnn", models=4), "unknown model `cnn`"),
    (lambda: lbounds.audit.mia(model="mlp", hidden=0, models=4), "`hidden` = 0"),
    (lambda: lbounds.audit.dpsgd(1.0, backend="candle", runs=2),
     "candle|native"),
])
def test_training_audit_domain_errors_are_lbounds_errors(call, match):
    with pytest.raises(lbounds.LboundsError, match=match):
        call()


RNG = np.random.default_rng(7)
HONEST = RNG.normal(loc=0.3, size=(16, 9))


@pytest.mark.parametrize("attack,rule,pre", [
    ("optimal_a_little_is_enough", "trmean", []),
    ("optimal_inner_product_manipulation", "median", ["nnm"]),
    # Bucketing draws from the stream the attack used: agreement shows it continues it.
    ("a_little_is_enough", "trmean", ["bucketing"]),
    ("gaussian", "caf", []),
])
def test_attack_then_aggregate_agrees_with_the_cli(cli, tmp_path, attack, rule, pre):
    np.save(tmp_path / "h.npy", HONEST)
    byz, agg = lbounds.attack(HONEST, attack, 3, rule=rule, pre=pre, seed=9,
                              then_aggregate=True)
    pre_flags = [x for p in pre for x in ("--pre", p)]
    want = cli("attack", "--attack", attack, "--f", 3, "--rule", rule, *pre_flags, "--seed", 9,
               "--then-aggregate", "--input", tmp_path / "h.npy", "--json")
    np.testing.assert_array_equal(agg, np.array(want["aggregate"], dtype=float))
    b = want["byzantine"]
    rows = [b] * 3 if not isinstance(b[0], list) else b
    np.testing.assert_array_equal(byz, np.array(rows, dtype=float))
    # The same byzantine rows as without then_aggregate.
    np.testing.assert_array_equal(
        byz, lbounds.attack(HONEST, attack, 3, rule=rule, pre=pre, seed=9))


def test_optimal_attacks_search_against_the_given_rule():
    """An optimal attack's tau is chosen against the defence it is given: against the median
    it differs from the one against ByzFL's default (average after clipping), and the rule's
    output under the attack it was optimised against is at least as far from the honest mean
    as under the attack optimised for another rule (the search maximises that distance over
    the same grid). Mutation: ignoring `rule` (passing no defence) makes both equal."""
    for attack in ("optimal_a_little_is_enough", "optimal_inner_product_manipulation"):
        default = lbounds.attack(HONEST, attack, 3)
        against = lbounds.attack(HONEST, attack, 3, rule="median")
        assert not np.array_equal(default, against), attack
        mean = HONEST.mean(axis=0)

        def err(byz):
            x = np.vstack([HONEST, byz])
            return np.linalg.norm(lbounds.aggregate(x, "median") - mean)
        assert err(against) >= err(default), attack


def test_then_aggregate_needs_a_rule():
    with pytest.raises(lbounds.LboundsError, match="then_aggregate"):
        lbounds.attack(HONEST, "sign_flipping", 2, then_aggregate=True)


def test_simulate_records_carry_the_clis_bounds(cli):
    kw = dict(n=20, d=3, byzantine=0.2, rules=["median"], attacks=["sign_flipping"],
              replicates=2, seed=4)
    got = lbounds.simulate(as_frame=False, **kw)
    want = cli("simulate", *flags({k: ",".join(v) if isinstance(v, list) else v
                                   for k, v in kw.items()}), "--json")
    assert got == want
    bounds = got[0]["bounds"]
    # Gaussian noise and Huber contamination: R1 (Huber 1964) and B1 (Allouah et al. 2023)
    # apply beside the measured columns; entries for another model say why they do not.
    assert bounds["R1-huber"]["applies"] and bounds["R1-huber"]["quantity"] == "error"
    assert bounds["B1"]["applies"] and bounds["B1"]["value"] == pytest.approx(4 / (20 - 8))
    assert any(not e["applies"] and "does not apply" in e["note"]
               for k, e in bounds.items() if k != "setting")
    # Heavy tails: R1 (a Gaussian bound) no longer applies.
    heavy = lbounds.simulate(as_frame=False, noise="student_t:nu=3,scale=1", **kw)
    assert not heavy[0]["bounds"]["R1-huber"]["applies"]
