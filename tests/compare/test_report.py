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
from ussim import imageset

RUN = ["--backbone", "texture-v1", "--kid-subsets", "5", "--diversity-pairs", "5", "--pr-k", "2", "--dc-k", "2",
       "--no-progress"]


def uscompare(*argv) -> int:
    return cli.run_cli("uscompare", cli._main, [str(a) for a in argv])


@pytest.fixture
def results_file(toy_files, tmp_path):
    real, sim = toy_files
    gan = imageset.write(resimulate(imageset.read(real).load(), seed=2, method="gan", seconds=0.004),
                         tmp_path / "gan.h5")
    out = tmp_path / "results.nc"
    assert uscompare("run", "--reference", real, "--method", f"physics={sim}", "--method", f"gan={gan}",
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
    for header in ("FID [texture-v1]", "KID [texture-v1] (mean ± std)", "SSIM", "MS-SSIM", "diversity MS-SSIM",
                   "precision / recall [texture-v1]", "density / coverage [texture-v1]", "seconds / image",
                   "background", "inclusion"):
        assert header in cells, header
    assert not any(c.startswith("FID") and "texture-v1" not in c for c in cells)
    assert any(" ± " in c for c in cells) and "–" in cells  # KID as mean ± std; the reference's FID is NaN
    for text in (html.unescape(page), twin):
        assert "as the PGSgan paper's Table 1" in text and "as the SpeckleGAN paper's Table 1" in text
        assert "never with published (Inception) FID or KID" in text
        assert "KID subset size reduced from 1000 to 8" in text  # the run's notes, verbatim
        assert "Image sizes (policy 'resize')" in text and "Classes are matched by name" in text


def test_a_moved_image_set_is_refused_in_one_line_and_found_with_sets_dir(results_file, tmp_path, capsys):
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("real.h5", "sim.h5", "gan.h5"):
        shutil.move(tmp_path / name, moved / name)
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
    assert uscompare("report", missing, "--out", tmp_path / "r.html", "--grid-rows", "0") == 2
    assert "grid-rows must be at least 1" in capsys.readouterr().err
    assert document.output_paths(tmp_path / "r.html")[1].name == "r.md"
