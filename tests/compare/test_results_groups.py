"""One results file holding several comparisons (each against its own reference): writing and
reading it, refusing it where one comparison is expected, and its report."""

import collections
import html
import json
import re
import warnings
from pathlib import Path

import numpy as np
import plotly.offline
import pytest
import xarray as xr

from compare import cli, results, runner
from compare.defaults import RESULTS_FORMAT_VERSION, Settings
from compare.report import document, tables
from compare.segmentation import store
from tests.compare.conftest import resimulate
from tests.compare.test_report import markdown_cells, table_cells
from ussim import examples, imageset
from ussim.errors import UsageError

# DECISION: 100 bootstrap resamples, not 1000: these tests check what the file holds and how the
# report lays it out, not how wide an interval is; the resampling (FRD per class above all) was most
# of their cost
FAST = Settings(backbone="texture-v1", kid_subsets=5, diversity_pairs=5, precision_recall_k=2, density_coverage_k=2,
                bootstrap_resamples=100)
NOTICE = "No real images were available: every reference set is simulated, so no number here says how real."
TITLES = {"ovary": "Ovary: two methods against simulated ovary scans", "ivus": "IVUS: one method against IVUS"}


def comparison(folder: Path, organ: str, seed: int, n: int, methods: tuple[str, ...]) -> xr.Dataset:
    real = examples.toy_imageset(n=n, size=176, seed=seed)
    real_path = imageset.write(real, folder / f"{organ}_real.h5")
    sets = [(m, imageset.write(resimulate(real, seed=seed + k + 1, method=m, seconds=0.1 * (k + 1)),
                               folder / f"{organ}_{m}.h5")) for k, m in enumerate(methods)]
    with warnings.catch_warnings():  # small sets: KID subsets shrink, FID covariances are rank-deficient
        warnings.simplefilter("ignore")
        ds = runner.run(real_path, sets, FAST, reference_name=f"{organ}-reference", progress=False)
    ds.attrs["title"] = TITLES[organ]
    return ds


def make_comparisons(folder: Path) -> dict[str, xr.Dataset]:
    """ovary (reference + physics + gan), then ivus (its own reference + physics): not alphabetical."""
    return {"ovary": comparison(folder, "ovary", 0, 8, ("physics", "gan")),
            "ivus": comparison(folder, "ivus", 50, 6, ("physics",))}


@pytest.fixture
def grouped(grouped_comparisons):
    """The session's two comparisons (tests/conftest.py), the datasets copied: a test may change them."""
    datasets, path = grouped_comparisons
    return {organ: ds.copy(deep=True) for organ, ds in datasets.items()}, path


def uscompare(*argv) -> int:
    return cli.run_cli("uscompare", cli._main, [str(a) for a in argv])


def test_grouped_round_trip_keeps_values_order_and_attrs(grouped):
    datasets, path = grouped
    back = results.read_comparisons(path)
    assert back.grouped and list(back.datasets) == ["ovary", "ivus"]
    for name, ds in datasets.items():
        got = back.datasets[name]
        assert got["method"].values.tolist() == ds["method"].values.tolist()
        np.testing.assert_array_equal(got["value"].values, ds["value"].values)
        np.testing.assert_array_equal(got["class_value"].values, ds["class_value"].values)
        assert got.attrs["title"] == TITLES[name] and got.attrs["reference"] == f"{name}-reference"
        assert results.parameters_of(got) == FAST.as_dict() and results.notes_of(got) == results.notes_of(ds)
        assert back.title(name) == TITLES[name]
    assert back.attrs["notice"] == NOTICE and json.loads(back.attrs["comparisons"]) == ["ovary", "ivus"]
    assert int(back.attrs["results_format_version"]) == RESULTS_FORMAT_VERSION
    assert {"software_version", "ussim_version", "created_utc"} <= set(back.attrs)
    assert not list(path.parent.glob(".*.tmp"))
    with pytest.raises(UsageError, match="exists; pass --overwrite"):
        results.write_comparisons(datasets, path)


def test_a_grouped_file_is_refused_where_one_comparison_is_expected(grouped):
    _, path = grouped
    for refuse in (results.read, lambda p: store.check_target(p, overwrite=False)):  # `uscompare segment` too
        with pytest.raises(UsageError, match=r"holds several comparisons \(ovary, ivus\), not one") as error:
            refuse(path)
        assert "\n" not in str(error.value)


def test_a_plain_file_reads_as_one_comparison(grouped, tmp_path):
    ds = grouped[0]["ivus"]
    path = results.write(ds, tmp_path / "plain.nc")
    back = results.read_comparisons(path)
    assert not back.grouped and list(back.datasets) == ["ivus-reference"]
    assert back.attrs["title"] == TITLES["ivus"] and "notice" not in back.attrs
    np.testing.assert_array_equal(back.datasets["ivus-reference"]["value"].values, ds["value"].values)


@pytest.mark.parametrize("names, attrs, match", [
    ([], None, "needs at least one comparison"),
    ([""], None, "comparison name '' is not allowed"),
    (["a/b"], None, "comparison name 'a/b' is not allowed: use a non-empty name without '/'"),
    (["ovary"], {"comparisons": "[]"}, "attribute.s. comparisons are written by write_comparisons itself"),
])
def test_write_comparisons_refuses_bad_input_in_one_line(grouped, tmp_path, names, attrs, match):
    ds = grouped[0]["ivus"]
    with pytest.raises(UsageError, match=match) as error:
        results.write_comparisons({name: ds for name in names}, tmp_path / "r.nc", attrs=attrs)
    assert "\n" not in str(error.value) and not list(tmp_path.iterdir())


def test_write_comparisons_refuses_what_is_not_a_comparison(grouped, tmp_path):
    image_set = examples.toy_imageset(n=2, size=32, seed=0)
    for wrong in (image_set, xr.Dataset(attrs={"results_format_version": RESULTS_FORMAT_VERSION}), "ovary.nc"):
        with pytest.raises(UsageError, match="comparison 'ovary' is not a comparison's Dataset") as error:
            results.write_comparisons({"ivus": grouped[0]["ivus"], "ovary": wrong}, tmp_path / "r.nc")
        assert "\n" not in str(error.value) and not list(tmp_path.iterdir())


def test_a_comparison_of_another_format_version_is_refused(grouped, tmp_path):
    datasets = dict(grouped[0])
    datasets["ivus"] = datasets["ivus"].copy()
    datasets["ivus"].attrs = {**datasets["ivus"].attrs, "results_format_version": RESULTS_FORMAT_VERSION + 1}
    path = results.write_comparisons(datasets, tmp_path / "future.nc")
    future = RESULTS_FORMAT_VERSION + 1
    with pytest.raises(UsageError, match=rf"\(comparison ivus\) has results format version {future}") as error:
        results.read_comparisons(path)
    assert "\n" not in str(error.value)


def sections_of(page: str) -> dict[str, str]:
    """The page split at its <h2> headings: heading text -> what follows until the next one."""
    parts = re.split(r"<h2[^>]*>(.*?)</h2>", page)
    return {html.unescape(parts[k]): parts[k + 1] for k in range(1, len(parts), 2)}


def test_report_of_a_grouped_file_has_a_titled_section_per_comparison(grouped, tmp_path, capsys):
    datasets, path = grouped
    out = tmp_path / "report.html"
    (tmp_path / "report_grid.png").write_bytes(b"from an earlier one-comparison report")
    assert uscompare("report", path, "--out", out) == 0
    assert capsys.readouterr().out.count("wrote ") == 4  # page, twin, two grids
    page, twin = out.read_text(), out.with_suffix(".md").read_text()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["report_grid_ivus.png", "report_grid_ovary.png"]
    assert "![image grid](report_grid_ovary.png)" in twin and "![image grid](report_grid_ivus.png)" in twin

    plotly_js = plotly.offline.get_plotlyjs()
    assert page.count(plotly_js) == 1 and page.count("Plotly.newPlot(") >= 4  # timing and JS, per comparison
    notice_box = f'<p class="notice">{html.escape(NOTICE)}</p>'
    assert notice_box in page and page.index(notice_box) < page.index("<h2")
    assert twin.index(f"> {NOTICE}") < twin.index("\n## ")

    found = sections_of(page)
    assert list(found) == list(TITLES.values())
    assert [line[3:] for line in twin.splitlines() if line.startswith("## ")] == list(TITLES.values())
    for name, ds in datasets.items():
        section = found[TITLES[name]]
        fid = tables.cell(ds, "physics", "fid[texture-v1]")
        assert f"<td>{fid}</td>" in section  # each section holds its own comparison's numbers
        assert f"{name}-reference" in section and section.count('<table class="grid">') == 1
        for heading in ("Realism", "What the intervals resolve", "Cost", "Images made from the same mask",
                        "Policies and notes"):
            assert f"<h3>{heading}</h3>" in section
    assert "<td>gan</td>" in found[TITLES["ovary"]] and "<td>gan</td>" not in found[TITLES["ivus"]]
    cells = table_cells(page)
    assert collections.Counter(cells) == collections.Counter(markdown_cells(twin))

    # a later report without grids removes both grids it no longer links, and nothing else
    (tmp_path / "report_grid_other.png").write_bytes(b"not linked by this report")
    assert uscompare("report", path, "--out", out, "--no-grids", "--overwrite") == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["report_grid_other.png"]
    assert out.read_text().count("No image grid: switched off") == 2
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_plain_file_report_keeps_its_one_comparison_layout(grouped, tmp_path):
    path = results.write(grouped[0]["ovary"], tmp_path / "plain.nc")
    out = tmp_path / "report.html"
    document.write_report(path, out)
    page, twin = out.read_text(), out.with_suffix(".md").read_text()
    assert list(sections_of(page)) == ["Realism", "What the intervals resolve", "Cost",
                                       "Per-class gray values and speckle", "Images made from the same mask",
                                       "Policies and notes"]
    assert '<h3>Realism (as the PGSgan paper&#x27;s Table 1)</h3>' in page
    assert "### Realism (as the PGSgan paper's Table 1)" in twin and "\n#### " not in twin
    assert TITLES["ovary"] not in page and "notice" not in page.split("<h2", 1)[0].split("<body>")[1]
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["report_grid.png"]
