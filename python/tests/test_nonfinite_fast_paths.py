"""Non-finite input through the paths that skip the finiteness scan.

A C-contiguous float64 array is read in place. Natively a NaN sent by a Byzantine user is read
as +inf; the median and the trimmed mean (f >= 1) do that in their own kernel, so they take
the array with no scan, while the other rules get a scan that decides between reading in place
and copying with NaN rewritten. Under compat="byzfl" no scan rewrites anything, and the
trimmed mean and Krum look for NaN rows only when their output says one could matter. Every
answer must be the one the documented reading gives: the same bits as the input with each NaN
replaced by +inf (natively, and for ByzFL's TrMean with at most f NaN per column), or a
ValueError saying that ByzFL returns NaN."""

import numpy as np
import pytest

import lbounds

N, D, F = 12, 1000, 2


def hostile(seed=3):
    """Honest N(0, 1) rows, then rows with NaN, +-inf and 1e300 entries (at most F per column
    hold NaN or +-inf)."""
    x = np.random.default_rng(seed).standard_normal((N, D))
    x[0, ::3] = np.nan  # a row with NaN in a third of its coordinates
    x[1, 1::3] = np.inf
    x[1, 2::3] = -np.inf
    x[2, :] = 1e300  # finite, but its squares overflow
    x[3, 5] = np.nan  # a single NaN entry
    return x


def as_plus_inf(x):
    return np.where(np.isnan(x), np.inf, x)


def bits(v):
    return np.asarray(v).view(np.uint64)


@pytest.mark.parametrize(
    "rule, pre",
    [("median", []), ("trmean", []), ("krum", []), ("trmean", ["nnm"]), ("median", ["nnm"])],
)
@pytest.mark.parametrize("f", [1, F + 1])
def test_native_nan_is_plus_inf_to_the_bit(rule, pre, f):
    # f = 1: more non-finite rows than f (NNM refuses; Krum and the coordinate-wise rules
    # keep an answer at infinity where the rewritten input has one).
    x = hostile()
    try:
        want = lbounds.aggregate(as_plus_inf(x), rule, f=f, pre=pre)
    except ValueError as e:
        with pytest.raises(ValueError) as got:
            lbounds.aggregate(x, rule, f=f, pre=pre)
        assert str(got.value) == str(e)
        return
    got = lbounds.aggregate(x, rule, f=f, pre=pre)
    assert np.array_equal(bits(got), bits(want))
    # The copied path (Fortran order) reads the same values.
    fortran = lbounds.aggregate(np.asfortranarray(x), rule, f=f, pre=pre)
    assert np.array_equal(bits(got), bits(fortran))


def test_native_nnm_then_a_coordinatewise_rule_runs_fused_with_the_same_bits():
    # NNM then the trimmed mean or the median runs fused (no n x d output), NaN left in
    # place: the answer is the rule on NNM's whole output (`pre_aggregate`), to the bit.
    for seed, x in [(5, np.random.default_rng(5).standard_normal((N, 2500))), (3, hostile())]:
        for rule in ["trmean", "median"]:
            got = lbounds.aggregate(x, rule, f=F + 1, pre=["nnm"])
            mixed = lbounds.pre_aggregate(x, "nnm", f=F + 1)
            want = lbounds.aggregate(as_plus_inf(mixed), rule, f=F + 1)
            assert np.array_equal(bits(got), bits(want)), (seed, rule)


def test_native_median_keeps_its_answer_on_a_nan_majority_column():
    # Column 0 holds NaN in 7 of 12 rows, read as +inf: the two middle values of the sorted
    # column are +inf, so the median is +inf there (and the honest median elsewhere).
    x = np.random.default_rng(4).standard_normal((N, 4))
    x[:7, 0] = np.nan
    out = lbounds.aggregate(x, "median")
    assert out[0] == np.inf
    assert np.array_equal(out[1:], np.median(x[:, 1:], axis=0))


def test_byzfl_trmean_reads_at_most_f_nan_as_plus_inf_and_refuses_more():
    x = hostile()
    x[2, :] = 0.5  # no overflow: compare with NumPy's own trimmed mean
    got = lbounds.aggregate(x, "trmean", f=F, compat="byzfl")
    s = np.sort(as_plus_inf(x), axis=0)
    assert np.allclose(got, s[F:-F].mean(axis=0), rtol=1e-12, atol=0)
    assert np.array_equal(
        bits(got), bits(lbounds.aggregate(as_plus_inf(x), "trmean", f=F, compat="byzfl"))
    )
    x[4, 7] = np.nan
    x[5, 7] = np.nan  # column 7: NaN in rows 4, 5 and 6, more than F = 2
    x[6, 7] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lbounds.aggregate(x, "trmean", f=F, compat="byzfl")


def test_byzfl_krum_with_nan_rows():
    # ByzFL's Krum: a NaN row's score is NaN and np.argmin returns the first NaN, so one NaN
    # row is picked and ByzFL returns NaN: an error here.
    x = np.random.default_rng(5).standard_normal((N, 50))
    x[3, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lbounds.aggregate(x, "krum", f=F, compat="byzfl")
    # More NaN rows than f: every score is NaN, np.argmin takes the first, x_0, finite here.
    x[[1, 2], 0] = np.nan
    got = lbounds.aggregate(x, "krum", f=F, compat="byzfl")
    assert np.array_equal(bits(got), bits(x[0]))
