"""`uscompare report`: a self-contained offline HTML page, its Markdown twin with the same numbers,
image grids of the same mask across methods, and one-line errors when image sets moved."""

import collections
import html
import re
import shutil

import plotly.offline
import pytest

from compare import cli
from compare.report import document
from tests.compare.conftest import resimulate
from ussim import examples, imageset

# 100 bootstrap resamples: the report is checked, not the width of its intervals
RUN = ["--backbone", "texture-v1", "--kid-subsets", "5", "--diversity-pairs", "5", "--pr-k", "2", "--dc-k", "2",
       "--bootstrap", "100",
       "--no-progress"]


def uscompare(*argv) -> int:
    return cli.run_cli("uscompare", cli._main, [str(a) for a in argv])


@pytest.fixture(scope="module")
def results_file(tmp_path_factory):
    """A reference, a physics and a GAN set and their results file, computed once for the module (a
    `uscompare run` is most of these tests' cost). Tests read it; the one that moves its image sets
    puts them back."""
    folder = tmp_path_factory.mktemp("report_run")
    with pytest.MonkeyPatch.context() as patch:  # the autouse private caches are per test; this runs before
        patch.setenv("USCOMPARE_CACHE", str(folder / "cache"))
        patch.setenv("TORCH_HOME", str(folder / "torch"))
        real = examples.toy_imageset(n=8, size=176, seed=0)  # as conftest's toy_files
        real_path = imageset.write(real, folder / "real.h5")
        sim = imageset.write(resimulate(real, seed=1), folder / "sim.h5")
        gan = imageset.write(resimulate(real, seed=2, method="gan", seconds=0.004), folder / "gan.h5")
        out = folder / "results.nc"
        assert uscompare("run", "--reference", real_path, "--method", f"physics={sim}", "--method", f"gan={gan}",
                         "--out", out, *RUN) == 0
    return out


def table_cells(page: str) -> list[str]:
    """Every cell of the page's tables but the image grid's."""
    page = re.sub(r'<table class="grid">.*?</table>', "", page, flags=re.S)
    return [html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", page, flags=re.S)]


def markdown_cells(text: str) -> list[str]:
    cells = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells += [c.strip().replace("\\|", "|") for c in line.strip()[2:-2].split(" | ")]
    return cells


def test_the_report_is_self_contained_and_its_markdown_twin_has_the_same_numbers(results_file, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert uscompare("report", results_file, "--out", out) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    twin = out.with_suffix(".md").read_text()
    assert (tmp_path / "report_grid.png").is_file()

    plotly_js = plotly.offline.get_plotlyjs()
    assert plotly_js in page and page.count("Plotly.newPlot(") >= 2  # timing and JS charts, plotly inline
    rest = page.replace(plotly_js, "")
    assert not re.search(r"https?://", rest)  # nothing outside plotly's own bundle names a URL
    assert not re.search(r"<link|<iframe|@import|src=\"(?!data:)", rest)
    grid = re.search(r'<table class="grid">.*?</table>', rest, flags=re.S).group(0)
    assert grid.count('src="data:image/png;base64,') == 4 * 4  # 4 masks x (mask, real, physics, gan)
    assert '"type":"log"' in rest  # the timing axis

    cells = table_cells(page)
    assert collections.Counter(cells) == collections.Counter(markdown_cells(twin))
    for header in ("FID [texture-v1]", "KID [texture-v1]", "SSIM", "MS-SSIM", "diversity MS-SSIM", "sees",
                   "precision [texture-v1]", "coverage [texture-v1]", "seconds / image", "device", "warm-up",
                   "background", "inclusion", "gray mean", "Nakagami m"):
        assert header in cells, header
    assert not any(c.startswith("FID") and "texture-v1" not in c for c in cells)
    # every measured number carries its interval, value [low, high]; the reference's FID is NaN
    assert sum(bool(re.fullmatch(r"-?[\d.e+-]+ \[-?[\d.e+-]+, -?[\d.e+-]+\]", c)) for c in cells) > 20
    assert "–" in cells
    for text in (html.unescape(page), twin):
        assert "as the PGSgan paper's Table 1" in text and "as the SpeckleGAN paper's Table 1" in text
        assert "What the intervals resolve" in text and "not resolved at this sample size" in text
        assert "never with published (Inception) FID or KID" in text
        assert "KID subset size reduced from 1000 to 8" in text  # the run's notes, verbatim
        assert "Image sizes (policy 'resize')" in text and "Classes are matched by name" in text


def test_a_moved_image_set_is_refused_in_one_line_and_found_with_sets_dir(results_file, tmp_path, capsys):
    moved = tmp_path / "moved"
    moved.mkdir()
    names = ("real.h5", "sim.h5", "gan.h5")
    for name in names:
        shutil.move(results_file.parent / name, moved / name)
    try:
        check_moved_sets(results_file, moved, tmp_path, capsys)
    finally:  # the module's other tests read the sets where the results file recorded them
        for name in names:
            shutil.move(moved / name, results_file.parent / name)


def check_moved_sets(results_file, moved, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert uscompare("report", results_file, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "image set of reference not found (real.h5" in err and "--sets-dir" in err
    assert not out.exists()
    assert uscompare("report", results_file, "--out", out, "--sets-dir", moved) == 0
    assert out.read_text().count('src="data:image/png;base64,') >= 16

    assert uscompare("report", results_file, "--out", out, "--no-grids") == 2  # exists: not replaced silently
    assert "exist(s); pass --overwrite" in capsys.readouterr().err
    assert uscompare("report", results_file, "--out", out, "--no-grids", "--overwrite") == 0
    assert "No image grid: switched off" in out.read_text() and not (tmp_path / "report_grid.png").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_report_refuses_bad_inputs(tmp_path, capsys):
    missing = tmp_path / "none.nc"
    assert uscompare("report", missing, "--out", tmp_path / "r.html") == 2
    assert "none.nc: no such results file" in capsys.readouterr().err
    assert uscompare("report", missing, "--out", tmp_path / "r.pdf") == 2
    assert "must end in .html" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # a parse-time type since issue 19
        cli.main(["report", str(missing), "--out", str(tmp_path / "r.html"), "--grid-rows", "0"])
    assert stop.value.code == 2 and "--grid-rows: 0 is out of range" in capsys.readouterr().err
    assert document.output_paths(tmp_path / "r.html")[1].name == "r.md"


def test_every_method_shows_what_it_saw_and_methods_fed_from_the_reference_are_marked_and_grouped(toy_files,
                                                                                                  tmp_path):
    real, _ = toy_files
    reference = imageset.read(real).load()
    timing = {"warmup_excluded": True, "device": "cpu", "batch_size": 1, "threads": 2, "clock": "wall"}
    made = {
        "gan": dict(condition="mask+sketch", source="reference", detail="Canny sketch of each reference image"),
        "physics": dict(condition="mask", source="none", detail="the label mask only"),
        "other": dict(condition="mask+sketch", source="other", detail="Canny sketch of a seeded training image"),
    }
    paths = {name: imageset.write(resimulate(reference, seed=k + 1, method=name, condition=condition, timing=timing),
                                  tmp_path / f"{name}.h5") for k, (name, condition) in enumerate(made.items())}
    out = tmp_path / "results.nc"
    assert uscompare("run", "--reference", real, *(a for name, path in paths.items()
                                                   for a in ("--method", f"{name}={path}")),
                     "--out", out, "--frd", "off", *RUN) == 0
    assert uscompare("report", out, "--out", tmp_path / "report.html", "--no-grids") == 0
    page = html.unescape((tmp_path / "report.html").read_text())
    twin = (tmp_path / "report.md").read_text()
    for text in (page, twin):
        for label in ("mask only", "mask + sketch of the reference image †", "mask + sketch of another image",
                      "Canny sketch of a seeded training image", "not comparable with mask-only rows"):
            assert label in text, label
    realism = [line.split(" | ")[0].lstrip("| ") for line in twin.split("### Realism (as the PGSgan")[1]
               .split("\n\n")[1].splitlines()[2:]]
    assert realism == ["reference", "physics", "other", "gan †"]  # mask only, other image, the reference's own
    verdict_lines = [line for line in twin.splitlines() if "lower is better" in line or "higher is better" in line]
    assert verdict_lines and all("gan †" in line or "gan" not in line.replace("gan †", "") for line in verdict_lines)
    timing_rows = [line for line in twin.splitlines() if line.startswith("| physics | ") and "| cpu | 1 | 2 |" in line]
    assert timing_rows and "excluded" in timing_rows[0]
