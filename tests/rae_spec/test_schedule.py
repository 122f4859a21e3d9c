import numpy as np
import pytest

from rae_spec.schedule import linspace_f32, sampling_grid, shift_factor, shift_time, time_from_uniform

# reference-spec §3.4: the 50-point grid at 256 px (alpha = sqrt(48)), 6 decimals.
SPEC_GRID_256 = [
    1.000000, 0.997005, 0.993902, 0.990684, 0.987346, 0.983880, 0.980280, 0.976536, 0.972640, 0.968583,
    0.964354, 0.959943, 0.955338, 0.950524, 0.945489, 0.940215, 0.934686, 0.928883, 0.922785, 0.916368,
    0.909608, 0.902475, 0.894939, 0.886963, 0.878509, 0.869531, 0.859981, 0.849800, 0.838925, 0.827282,
    0.814787, 0.801342, 0.786836, 0.771137, 0.754092, 0.735519, 0.715204, 0.692891, 0.668267, 0.640956,
    0.610492, 0.576295, 0.537634, 0.493576, 0.442903, 0.384006, 0.314705, 0.231979, 0.131505, 0.006887,
]


def test_grid_matches_the_spec_table():
    grid = sampling_grid(50, shift_factor(768 * 16 * 16))
    assert grid.dtype == np.float32 and grid.shape == (50,)
    np.testing.assert_allclose(grid, SPEC_GRID_256, atol=1e-6)


def test_512_grid_values():
    grid = sampling_grid(50, shift_factor(768 * 32 * 32))
    np.testing.assert_allclose(grid[[1, 10, 25, 40, 45, 47, 48, 49]],
                               [0.998500, 0.981854, 0.930213, 0.758143, 0.554919, 0.376595, 0.232443, 0.013680],
                               atol=6e-7)


def test_shift_maps_unit_interval_onto_itself():
    t = np.linspace(0, 1, 101, dtype=np.float32)
    s = shift_time(t, 6.9)
    assert s[0] == 0 and s[-1] == 1 and np.all(np.diff(s) > 0) and np.all(s >= t)


def test_linspace_f32_matches_torch_rule():
    torch = pytest.importorskip("torch")
    for n in (2, 7, 10, 50, 51):
        np.testing.assert_array_equal(linspace_f32(0.0, 0.999, n), torch.linspace(0, 0.999, n).numpy())


def test_time_from_uniform():
    U = np.array([0.0, 0.25, 0.5, 0.999], dtype=np.float32)
    np.testing.assert_allclose(time_from_uniform(U, "uniform", 1.0), U * 0.999, rtol=1e-6)
    ln = time_from_uniform(U, "logit-normal_0_1", 1.0)
    assert abs(ln[2] - 0.5) < 1e-3 and np.all(np.diff(ln) > 0) and ln[-1] <= 0.999
