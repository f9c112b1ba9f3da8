"""Bad input is a Python exception with the Rust library's message, never a crash: wrong dtype
or type is a TypeError; everything the library refuses (shape, NaN where refused, f >= n/2,
unknown names, out-of-domain parameters) is lbounds.LboundsError, a ValueError, whose message
is the CLI's error line without its `error: ` prefix."""

import numpy as np
import pytest

import lbounds
from lbounds import _lbounds

X = np.random.default_rng(3).normal(size=(10, 4))


def message(excinfo):
    return str(excinfo.value)


@pytest.fixture
def x_npy(tmp_path):
    def save(a, name="x.npy"):
        np.save(tmp_path / name, a)
        return tmp_path / name

    return save


@pytest.mark.parametrize(
    "call,cli_args",
    [
        (lambda: lbounds.aggregate(X, "trmean", f=5), ["aggregate", "--rule", "trmean", "--f", 5]),
        (lambda: lbounds.aggregate(X, "medain"), ["aggregate", "--rule", "medain"]),
        (lambda: lbounds.aggregate(X, "krum", f=4), ["aggregate", "--rule", "krum", "--f", 4]),
        (lambda: lbounds.aggregate(X, "trmean", f=2, pre=["bucketting"]),
         ["aggregate", "--rule", "trmean", "--f", 2, "--pre", "bucketting"]),
        (lambda: lbounds.aggregate(X, "geometric_median", params={"T": 1e9}),
         ["aggregate", "--rule", "geometric_median", "--param", "T=1e9"]),
        (lambda: lbounds.aggregate(X, "krum", f=1, params={"tau": 1.0}),
         ["aggregate", "--rule", "krum", "--f", 1, "--param", "tau=1"]),
        (lambda: lbounds.aggregate(X, "bulyan", f=1, compat="byzfl"),
         ["aggregate", "--rule", "bulyan", "--f", 1, "--compat", "byzfl"]),
        (lambda: lbounds.attack(X, "sign_flip", 2), ["attack", "--attack", "sign_flip", "--f", 2]),
    ],
)
def test_library_errors_carry_the_cli_message(cli, x_npy, call, cli_args):
    with pytest.raises(lbounds.LboundsError) as e:
        call()
    assert isinstance(e.value, ValueError)
    stderr = cli(*cli_args, "--input", x_npy(X), ok=False)
    assert stderr == "error: " + message(e)


def test_nan_in_honest_vectors_is_refused_as_the_cli_does(cli, x_npy):
    h = X.copy()
    h[2, 1] = np.nan
    with pytest.raises(lbounds.LboundsError, match="vector 2, coordinate 1 is NaN") as e:
        lbounds.attack(h, "sign_flipping", 2)
    assert cli("attack", "--attack", "sign_flipping", "--f", 2, "--input", x_npy(h),
               ok=False) == "error: " + message(e)


def test_nan_from_byzantine_users():
    x = X.copy()
    x[7] = np.nan
    # Natively a NaN row is a point at infinity, which the median sets aside...
    clean = lbounds.aggregate(np.delete(X, 7, axis=0), "median")
    assert np.all(np.isfinite(lbounds.aggregate(x, "median")))
    assert np.all(np.isfinite(clean))
    # ...and ByzFL's np.median returns NaN there: an error naming the rule, not a NaN.
    with pytest.raises(lbounds.LboundsError, match="median"):
        lbounds.aggregate(x, "median", compat="byzfl")
    with pytest.raises(lbounds.LboundsError, match="not robust|average"):
        lbounds.aggregate(x, "average")


def test_missing_f_is_asked_for():
    with pytest.raises(lbounds.LboundsError, match="depends on the number f"):
        lbounds.aggregate(X, "trmean")
    with pytest.raises(lbounds.LboundsError, match="`nnm` depends on the number f"):
        lbounds.aggregate(X, "median", pre=["nnm"])
    # A step parameter declares f as well.
    lbounds.aggregate(X, "trmean:f=2")


@pytest.mark.parametrize(
    "bad",
    [
        np.array([[1 + 2j, 3]]),
        np.array([["a", "b"]]),
        np.ones((3, 2), dtype=bool),
        [[1.0, "x"]],
    ],
)
def test_wrong_dtype_is_a_type_error(bad):
    with pytest.raises(TypeError):
        lbounds.aggregate(bad, "median")


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (0, 4), (4, 0), ()])
def test_wrong_shape_is_a_value_error(shape):
    with pytest.raises(lbounds.LboundsError):
        lbounds.aggregate(np.zeros(shape), "median")


def test_other_numeric_dtypes_and_layouts_are_converted():
    want = lbounds.aggregate(X, "trmean", f=2)
    np.testing.assert_array_equal(lbounds.aggregate(X.tolist(), "trmean", f=2), want)
    np.testing.assert_array_equal(lbounds.aggregate(np.asfortranarray(X), "trmean", f=2), want)
    wide = np.zeros((10, 8))
    wide[:, ::2] = X
    np.testing.assert_array_equal(lbounds.aggregate(wide[:, ::2], "trmean", f=2), want)
    ints = np.arange(40).reshape(10, 4)
    np.testing.assert_array_equal(
        lbounds.aggregate(ints, "median"), lbounds.aggregate(ints.astype(float), "median")
    )


def test_the_raw_extension_refuses_wrong_dtypes_without_crashing():
    with pytest.raises(TypeError):
        _lbounds.aggregate(X.astype(np.float32), ("median", None), None, [], None, 0, None)
    with pytest.raises(TypeError):
        _lbounds.aggregate("not an array", ("median", None), None, [], None, 0, None)
    # A non-contiguous float64 view is read through its strides (a copy), not its raw memory.
    wide = np.zeros((10, 8))
    wide[:, ::2] = X
    got = _lbounds.aggregate(wide[:, ::2], ("median", None), None, [], None, 0, None)
    np.testing.assert_array_equal(got, lbounds.aggregate(X, "median"))


@pytest.mark.parametrize(
    "call",
    [
        lambda: lbounds.aggregate(X, "trmean", f=-1),
        lambda: lbounds.attack(X, "sign_flipping", 0),
        lambda: lbounds.attack(X, "sign_flipping", 2**40),  # refused before any allocation
        lambda: lbounds.privacy.epsilon(0.01, 1.0, -5, 1e-5),
        lambda: lbounds.privacy.epsilon(1.5, 1.0, 10, 1e-5),
        lambda: lbounds.privacy.epsilon(0.01, float("nan"), 10, 1e-5),
        lambda: lbounds.privacy.epsilon(0.01, 1.0, 10, 1e-5, accountant="rpd"),
        lambda: lbounds.privacy.noise_multiplier(0.01, 10, -1.0, 1e-5),
        lambda: lbounds.privacy.analytic_gaussian_sigma(1.0, 2.0),
        lambda: lbounds.bounds.show("no-such-bound"),
        lambda: lbounds.bounds.eval("B1", zzz=1.0),
        lambda: lbounds.audit.epsilon(10, 11, 10, 0),
        lambda: lbounds.audit.scores([], [1.0]),
        lambda: lbounds.audit.gdp(-1.0, 1e-5),
        lambda: lbounds.simulate(byzantine=0.7, replicates=1),
        lambda: lbounds.simulate(rules=["nope"], replicates=1),
        lambda: lbounds.aggregate(X, "median", compat="pytorch"),
        lambda: lbounds.set_num_threads(-2),
    ],
)
def test_out_of_domain_input_is_a_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_unknown_accountant_suggests_the_right_name():
    with pytest.raises(lbounds.LboundsError, match=r"unknown accountant `rpd` \(did you mean `rdp`\?\)"):
        lbounds.privacy.epsilon(0.01, 1.0, 10, 1e-5, accountant="rpd")


def test_the_exception_is_exported_and_a_value_error():
    assert issubclass(lbounds.LboundsError, ValueError)
    assert lbounds.LboundsError.__module__ == "lbounds"
