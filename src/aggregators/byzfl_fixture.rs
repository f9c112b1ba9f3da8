//! ByzFL 0.0.11 reference outputs (test only).
//!
//! Computed by running ByzFL 0.0.11's `aggregators.py` on NumPy 2.4.6 float64 arrays (one
//! call per rule on a fresh copy of `X`); `X` is 9 vectors of dimension 4: seven honest
//! vectors around (0, 5, -5, 50) and two outliers. Values printed with `repr` (round trip).

/// The n = 9 input vectors (rows), f = 2 of them outliers (the last two).
pub(crate) const X: [[f64; 4]; 9] = [
    [0.00369, 5.896237, -5.822414, 47.328224],
    [-1.364012, 2.02506, -4.8195689999999995, 54.020646],
    [-1.47662, 3.138575, -3.530474, 51.070661],
    [0.316243, 2.208596, -5.087755, 52.08591],
    [-4.032644, 3.627153, -10.703668, 46.131387000000004],
    [-5.525205, 4.294727, -8.802339, 50.813793],
    [0.470253, 4.439207, -12.550279, 48.383921],
    [-0.975651, 26.531696, -17.508013, -3.351058],
    [3.313924, 1.913453, -36.751675, 2.284207],
];

/// ByzFL output on [`X`] (`MEDIAN`).
pub(crate) const MEDIAN: [f64; 4] = [-0.975651, 3.627153, -8.802339, 48.383921];
/// ByzFL output on [`X`] (`TRMEAN_F2`).
pub(crate) const TRMEAN_F2: [f64; 4] = [
    -0.6992700000000001,
    3.5416516000000002,
    -8.593291,
    48.7455972,
];
/// ByzFL output on [`X`] (`GEOMED_DEFAULT`).
pub(crate) const GEOMED_DEFAULT: [f64; 4] = [
    -1.741293254825474,
    4.264433881175361,
    -8.885473055932538,
    47.30963243535597,
];
/// ByzFL output on [`X`] (`KRUM_F2`).
pub(crate) const KRUM_F2: [f64; 4] = [0.316243, 2.208596, -5.087755, 52.08591];
/// ByzFL output on [`X`] (`MULTI_KRUM_F2`).
pub(crate) const MULTI_KRUM_F2: [f64; 4] = [
    -1.6583278571428575,
    3.661365,
    -7.330928285714285,
    49.976363142857146,
];
/// ByzFL output on [`X`] (`CENTERED_CLIPPING_TAU1_L3`).
pub(crate) const CENTERED_CLIPPING_TAU1_L3: [f64; 4] = [
    -0.05650456915606178,
    0.45820238028573745,
    -0.8439123875826766,
    2.2645866445741816,
];
/// ByzFL output on [`X`] (`MONNA_F2_IDX3`).
pub(crate) const MONNA_F2_IDX3: [f64; 4] = [
    -1.6583278571428575,
    3.661365,
    -7.330928285714286,
    49.976363142857146,
];
/// ByzFL output on [`X`] (`MEAMED_F2`).
pub(crate) const MEAMED_F2: [f64; 4] = [
    -1.0083915714285714,
    3.0923958571428574,
    -7.330928285714285,
    49.976363142857146,
];

/// `X` as [`crate::data::Updates`].
pub(crate) fn updates() -> crate::data::Updates {
    crate::data::Updates::from_rows(&X.iter().map(|r| r.to_vec()).collect::<Vec<_>>()).unwrap()
}

/// Asserts |a − b| ≤ 1e-12·max(1, |b|) coordinate by coordinate.
pub(crate) fn assert_close(got: &[f64], want: &[f64]) {
    for (a, b) in got.iter().zip(want) {
        assert!(
            (a - b).abs() <= 1e-12 * b.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}
