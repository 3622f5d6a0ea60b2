import numpy as np
import pytest

from ussim import scan
from ussim.errors import UsageError
from ussim.scan import DisplayGrid, LinearLines, RadialLines, SectorLines


def pixels(grid):
    return np.meshgrid(grid.x, grid.z)


def test_covering_tiles_the_box_with_half_pixel_offsets():
    grid = DisplayGrid.covering(-0.01, 0.01, 0.0, 0.04, shape=(8, 4))
    np.testing.assert_allclose(grid.x, [-0.0075, -0.0025, 0.0025, 0.0075])
    np.testing.assert_allclose(grid.z, 0.0025 + 0.005 * np.arange(8))
    np.testing.assert_allclose(grid.x_mm, [-7.5, -2.5, 2.5, 7.5])
    np.testing.assert_allclose(np.diff(grid.z_mm), 5.0)
    with pytest.raises(UsageError):
        DisplayGrid.covering(0.01, -0.01, 0.0, 0.04)


def test_linear_lines_reproduce_a_linear_function_and_are_0_outside():
    geometry = LinearLines(x=np.linspace(-0.01, 0.01, 33), z=np.linspace(0.005, 0.04, 101))
    values = 1 + 100 * geometry.x[:, None] + 50 * geometry.z[None, :]
    grid = DisplayGrid.covering(-0.015, 0.015, 0.0, 0.045, shape=(90, 60))
    image = scan.scan_convert(values, geometry, grid)
    x, z = pixels(grid)
    expected_inside = (np.abs(x) <= 0.01) & (z >= 0.005) & (z <= 0.04)
    inside = scan.imaged_mask(geometry, grid)
    np.testing.assert_array_equal(inside, expected_inside)
    assert image.dtype == np.float32 and image.shape == (90, 60)
    np.testing.assert_allclose(image[inside], (1 + 100 * x + 50 * z)[inside], rtol=1e-6)
    assert np.all(image[~inside] == 0) and (~inside).sum() > 0


def test_default_linear_grid_spans_lines_and_samples():
    geometry = LinearLines(x=np.linspace(-0.01, 0.01, 21), z=np.linspace(0.0, 0.03, 31))
    grid = scan.default_grid(geometry, shape=(30, 20))
    np.testing.assert_allclose([grid.x[0] - 0.0005, grid.x[-1] + 0.0005], [-0.01, 0.01])
    np.testing.assert_allclose([grid.z[0] - 0.0005, grid.z[-1] + 0.0005], [0.0, 0.03])
    assert scan.imaged_mask(geometry, grid).all()


def test_sector_values_equal_to_radius_give_distance_to_apex():
    radius = 0.04  # convex array: apex at the centre of curvature (0, -R)
    geometry = SectorLines(angles=np.linspace(-0.5, 0.5, 129), radii=np.linspace(radius, 0.12, 400),
                           apex_z=-radius)
    grid = scan.default_grid(geometry, shape=(200, 200))
    image = scan.scan_convert(np.tile(geometry.radii, (129, 1)), geometry, grid)
    x, z = pixels(grid)
    r, angle = np.hypot(x, z + radius), np.arctan2(x, z + radius)
    inside = scan.imaged_mask(geometry, grid)
    np.testing.assert_array_equal(inside, (r >= radius) & (r <= 0.12) & (np.abs(angle) <= 0.5))
    np.testing.assert_allclose(image[inside], r[inside], rtol=1e-6)
    assert np.all(image[~inside] == 0)
    area = 0.5 * 1.0 * (0.12**2 - radius**2)
    pixel_area = (grid.x[1] - grid.x[0]) * (grid.z[1] - grid.z[0])
    assert abs(inside.sum() * pixel_area / area - 1) < 0.02


def test_sector_angles_run_from_plus_z_towards_plus_x():
    angles = np.linspace(-np.pi / 4, np.pi / 4, 91)  # phased array: apex at (0, 0)
    geometry = SectorLines(angles=angles, radii=np.linspace(0.0, 0.1, 200))
    grid = scan.default_grid(geometry, shape=(100, 141))
    half = 0.1 * np.sin(np.pi / 4)
    dx, dz = grid.x[1] - grid.x[0], grid.z[1] - grid.z[0]
    np.testing.assert_allclose([grid.x[0] - dx / 2, grid.x[-1] + dx / 2, grid.z[0] - dz / 2, grid.z[-1] + dz / 2],
                               [-half, half, 0.0, 0.1], atol=1e-12)
    image = scan.scan_convert(np.tile(angles[:, None], (1, 200)), geometry, grid)
    x, z = pixels(grid)
    inside = scan.imaged_mask(geometry, grid)
    np.testing.assert_allclose(image[inside], np.arctan2(x, z)[inside], atol=1e-6)
    assert image[inside & (x > 0)].min() > 0  # the right half of the image has positive angles


def ivus(n_lines, dead_zone=0.0005):
    return RadialLines(angles=np.arange(n_lines) * 2 * np.pi / n_lines, radii=np.linspace(0.0, 0.005, 200),
                       dead_zone=dead_zone)


def test_ivus_cosine_of_angle_reproduces_z_over_r():
    geometry = ivus(256)
    grid = scan.default_grid(geometry, shape=(128, 128))
    image = scan.scan_convert(np.tile(np.cos(geometry.angles)[:, None], (1, 200)), geometry, grid)
    x, z = pixels(grid)
    r = np.hypot(x, z)
    inside = scan.imaged_mask(geometry, grid)
    np.testing.assert_array_equal(inside, (r >= 0.0005) & (r <= 0.005))
    # linear interpolation of cos over a 2 pi / 256 step errs by at most step**2 / 8 = 7.5e-5
    np.testing.assert_allclose(image[inside], (z / r)[inside], atol=1e-4)
    assert np.all(image[~inside] == 0)


@pytest.mark.parametrize("order", [1, 3])
def test_ivus_has_no_seam_at_angle_zero(order):
    # Coarse lines make a seam large: clamping instead of wrapping errs by 1 - cos(2 pi / 32) = 0.019.
    geometry = ivus(32)
    grid = DisplayGrid.covering(-0.005, 0.005, -0.005, 0.005, shape=(64, 64))  # x = 0 between two columns
    image = scan.scan_convert(np.tile(np.cos(geometry.angles)[:, None], (1, 200)), geometry, grid)
    column = np.searchsorted(grid.x, 0.0)
    rows = grid.z > 0.001  # the +z axis, outside the dead zone
    left, right = image[rows, column - 1], image[rows, column]
    assert np.all(right > 0.99)
    np.testing.assert_allclose(left, right, atol=1e-5)


def test_ivus_dead_zone_is_black():
    geometry = ivus(64, dead_zone=0.002)
    grid = scan.default_grid(geometry, shape=(100, 100))
    image = scan.scan_convert(np.full((64, 200), 7.0), geometry, grid)
    x, z = pixels(grid)
    r = np.hypot(x, z)
    assert np.all(image[r < 0.002] == 0)
    np.testing.assert_allclose(image[(r >= 0.002) & (r <= 0.005)], 7.0)
    assert np.all(image[r > 0.005] == 0)


@pytest.mark.parametrize("make", [
    lambda: SectorLines(angles=np.array([-0.5, -0.1, 0.0, 0.5]), radii=np.linspace(0, 0.1, 10)),
    lambda: LinearLines(x=np.array([0.0, 0.001, 0.003]), z=np.linspace(0, 0.1, 10)),
    lambda: RadialLines(angles=np.linspace(0, 2 * np.pi, 64), radii=np.linspace(0, 0.005, 10)),  # 2 pi twice
    lambda: RadialLines(angles=np.sort(np.random.default_rng(0).uniform(0, 2 * np.pi, 64)),
                        radii=np.linspace(0, 0.005, 10)),
])
def test_non_uniform_or_incomplete_lines_are_refused(make):
    with pytest.raises(UsageError) as caught:
        make()
    assert "\n" not in str(caught.value)


def test_values_of_the_wrong_shape_are_refused():
    geometry = LinearLines(x=np.linspace(-0.01, 0.01, 8), z=np.linspace(0, 0.03, 50))
    grid = scan.default_grid(geometry)
    with pytest.raises(UsageError, match="shape"):
        scan.scan_convert(np.zeros((50, 8)), geometry, grid)
    with pytest.raises(UsageError, match="order"):
        scan.scan_convert(np.zeros((8, 50)), geometry, grid, order=7)
