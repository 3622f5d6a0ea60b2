"""Every `PAPER:` comment cites a section the paper has, and the right one for its topic.

The code cites the two papers of ../shared/papers: PGSgan by section number (§2.1), equation,
figure or table; SpeckleGAN, whose sections have titles but no numbers, by the quoted title. The
tables below hold each paper's sections and which of them treat each topic; the test walks every
`PAPER` tag in the packages (comments and docstrings, the tag with the lines that continue it) and
every `§` anywhere in them (and the section a model's `follows` names), and fails on a section
the paper does not have, on a SpeckleGAN citation by number, and on a topic cited to a section
that does not treat it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ganlab", "compare", "app", "ussim")
# Packages whose every PAPER tag must name the paper and cite a section (ussim also cites Field II,
# MUST and standards, which these tables do not cover).
STRICT = ("ganlab", "compare", "ussim")
PAPERS = ROOT.parent / "shared" / "papers"  # ../shared beside the checkout, as CI has it

PGSGAN_SECTIONS = {
    "1": "INTRODUCTION", "2": "METHODOLOGY", "2.1": "Backbone of Sgan", "2.2": "Auxiliary Sketch Guidance",
    "2.3": "Progressive Growing Scheme", "2.4": "Training with FIB", "3": "EXPERIMENTAL RESULTS",
    "4": "CONCLUSIONS",
}
PGSGAN_OTHER = {"Eq. (1)", "Eq. (2)", "Eq. (3)", "Table 1", *(f"Fig. {n}" for n in range(1, 7))}
# topic (regular expression, case-insensitive) -> the PGSgan citations that treat it
PGSGAN_TOPICS = {
    r"\bL1\b|lambda|l1_weight": {"2.1", "Eq. (2)", "Eq. (3)"},
    r"PatchGAN|30 ?x ?30|residual block|ResNet|encoder": {"2.1", "Fig. 2"},
    r"sketch|Canny": {"2.2", "1", "Fig. 1", "Fig. 2"},
    r"\bFIB|fade|alpha|grow|phase": {"2.3", "2.4", "Fig. 2", "Fig. 3"},
    r"batch size|learning rate|\bAdam\b|maximum epoch|200 epochs": {"3"},
    r"\bFID\b|\bKID\b|MS-SSIM|user study": {"3", "Table 1", "Fig. 6"},
}

SPECKLEGAN_SECTIONS = (
    "Material and methods", "Speckle layer", "SpeckleGAN architecture", "Fréchet Inception distance",
    "GAN evaluation", "Segmentation evaluation", "Generation of synthetic IVUS images", "IVUS segmentation",
)
TRAINING = "Material and methods"  # the training paragraph (losses, Adam, rates, augmentation) has no title of its own
SPECKLEGAN_TOPICS = {
    r"speckle layer|window|phases?\b|I_sp": {"Speckle layer", "SpeckleGAN architecture", TRAINING},
    r"polar": {"Speckle layer"},
    r"SPADE|spectral norm|128-dimensional|attention|sum pooling": {"SpeckleGAN architecture"},
    r"\bAdam\b|beta1|learning rate|\bflips?\b|rotations?\b|non-saturating|\beps\b": {TRAINING},
    r"ellipse|artificial (segmentation )?masks?|1000 generated": {"GAN evaluation", "Segmentation evaluation"},
    r"U-Net|\bDice\b|Hausdorff|scenario": {"Segmentation evaluation", "IVUS segmentation"},
}

# segdiff follows Konz et al., MICCAI 2024 through its published code ("SGD code",
# mazurowski-lab/segmentation-guided-diffusion), whose values live in these files: a citation of
# it names the file (or the paper itself).
SGD_SOURCES = ("main.py", "training.py", "eval.py", "README", "MICCAI 2024")

TAG = re.compile(r"\bPAPER\b(?=:| ?§| \()")
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)?)(?:\s?[-–]\s?(\d+(?:\.\d+)?))?")
NUMBERED = re.compile(r"(Eq\. \(\d+\)|Table \d+|Fig\. \d+)(?:\s?-\s?(\d+))?")
QUOTED = re.compile(r"\"([^\"]+)\"")


def tagged_passages(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each PAPER tag: from the tag to the end of its comment or paragraph."""
    lines = path.read_text().splitlines()
    found = []
    for number, line in enumerate(lines):
        match = TAG.search(line)
        if not match:
            continue
        comment = line.lstrip().startswith("#") or "#" in line[:match.start()]
        text = [line[match.start():]]
        for following in lines[number + 1:]:
            stripped = following.strip()
            if comment and not stripped.startswith("#"):
                break
            body = stripped.lstrip("#").strip()
            if not body or body.startswith(("DECISION", "PAPER", '"""')) or (not comment and stripped.startswith("#")):
                break
            text.append(body)
        found.append((number + 1, " ".join(text)))
    return found


def pgsgan_citations(text: str) -> set[str]:
    cited = set()
    for low, high in SECTION.findall(text):
        cited.add(low)
        if high:  # a range such as §2.3-2.4
            major, first, last = low.split(".")[0], low.split(".")[-1], high.split(".")[-1]
            cited.update(f"{major}.{n}" for n in range(int(first), int(last) + 1)) if "." in low else cited.add(high)
    for name, last in NUMBERED.findall(text):
        cited.add(name)
        if last:  # Fig. 2-3
            kind, first = name.rsplit(" ", 1)
            cited.update(f"{kind} {n}" for n in range(int(first), int(last) + 1))
    return cited


def topic_problems(text: str, cited: set[str], topics: dict[str, set[str]]) -> list[str]:
    return [f"its topic /{pattern}/ is cited to {sorted(cited)}, but the paper treats it in {sorted(allowed)}"
            for pattern, allowed in topics.items() if re.search(pattern, text, re.IGNORECASE) and not cited & allowed]


def problems_in(path: Path, root: Path = ROOT) -> list[str]:
    where = path.relative_to(root)
    strict = where.parts[0] in STRICT
    found = []
    for number, text in tagged_passages(path):
        if "SGD code" in text or "Konz" in text:
            if not any(source in text for source in SGD_SOURCES):
                found.append(f"{where}:{number}: cites the SGD code without naming its file "
                             f"({', '.join(SGD_SOURCES)}): {text[:80]}")
            continue
        paper = "SpeckleGAN" if "SpeckleGAN" in text else "PGSgan" if ("PGSgan" in text or "§" in text) else None
        if paper is None:
            if strict:
                found.append(f"{where}:{number}: PAPER tag names neither PGSgan nor SpeckleGAN: {text[:80]}")
            continue
        if paper == "SpeckleGAN":
            if SECTION.search(text):
                found.append(f"{where}:{number}: SpeckleGAN has no numbered sections: {text[:80]}")
            cited = {q for q in QUOTED.findall(text) if q in SPECKLEGAN_SECTIONS} | pgsgan_citations(text)
            named = {q for q in QUOTED.findall(text) if q in SPECKLEGAN_SECTIONS}
            if strict and not named:
                found.append(f"{where}:{number}: cites no SpeckleGAN section by its quoted title: {text[:80]}")
            topics = SPECKLEGAN_TOPICS
        else:
            cited = pgsgan_citations(text)
            unknown = sorted(c for c in cited if c not in PGSGAN_SECTIONS and c not in PGSGAN_OTHER)
            if unknown:
                found.append(f"{where}:{number}: PGSgan has no {', '.join(unknown)}: {text[:80]}")
            if strict and not cited:
                found.append(f"{where}:{number}: cites no PGSgan section, equation, figure or table: {text[:80]}")
            topics = PGSGAN_TOPICS
        if cited:
            found += [f"{where}:{number}: {p}: {text[:100]}" for p in topic_problems(text, cited, topics)]
    # Every § anywhere (a docstring, a model's `follows`) is a PGSgan section that exists.
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for low, high in SECTION.findall(line):
            for section in filter(None, (low, high)):
                if section not in PGSGAN_SECTIONS:
                    found.append(f"{where}:{number}: PGSgan has no §{section}: {line.strip()[:80]}")
        cited = pgsgan_citations(line)
        if "follows=" in line and cited:  # a registered model's paper and section
            found += [f"{where}:{number}: {p}: {line.strip()[:100]}"
                      for p in topic_problems(line, cited, PGSGAN_TOPICS)]
    return found


def code_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_every_paper_citation_names_a_section_the_paper_has_for_its_topic():
    problems = [problem for path in code_files() for problem in problems_in(path)]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_wrong_section(tmp_path):
    package = tmp_path / "ganlab"
    package.mkdir()
    bad = package / "bad.py"
    bad.write_text('ALPHA = 1 / 30  # PAPER: PGSgan §2.2: alpha rises by 1/30\n'
                   'L1 = 1.0  # PAPER: PGSgan §2.5: the L1 term\n'
                   'SIZE = 64  # PAPER: SpeckleGAN §3: 64 channels\n'
                   'FLIPS = 2  # PAPER: SpeckleGAN, "SpeckleGAN architecture": horizontal and vertical flips\n'
                   'GOOD = 3  # PAPER: PGSgan §2.4: alpha is truncated at 0.5\n'
                   'STEPS = 9  # PAPER: SGD code: nine steps\n'
                   'T = 1000  # PAPER: SGD code, main.py: 1000 training steps\n')
    problems = problems_in(bad, tmp_path)
    assert any(":1:" in p and "/\\bFIB|fade|alpha" in p for p in problems)      # alpha is §2.3-2.4, not §2.2
    assert any(":2:" in p and "no 2.5" in p for p in problems)                   # PGSgan has no §2.5
    assert any(":3:" in p and "no numbered sections" in p for p in problems)     # SpeckleGAN is not numbered
    assert any(":4:" in p and "flips" in p for p in problems)                    # flips are in the training text
    assert not any(":5:" in p for p in problems)
    assert any(":6:" in p and "without naming its file" in p for p in problems)  # which file of the code?
    assert not any(":7:" in p for p in problems)


@pytest.mark.skipif(not PAPERS.is_dir(), reason="the papers' text (../shared/papers) is not beside the repository")
def test_the_tables_match_the_papers_text():
    pgsgan = (PAPERS / "PGSgan.txt").read_text()
    for number, title in PGSGAN_SECTIONS.items():
        assert re.search(rf"^{re.escape(number)}\.\s+{re.escape(title)}\s*$", pgsgan, re.MULTILINE), (number, title)
    assert not re.search(r"^2\.5\.", pgsgan, re.MULTILINE)
    speckle = (PAPERS / "SpeckleGAN.txt").read_text()
    for title in SPECKLEGAN_SECTIONS:
        assert re.search(rf"^{re.escape(title)}\s*$", speckle, re.MULTILINE), title
    assert not re.search(r"^\d+(\.\d+)?\.?\s+[A-Z]", speckle, re.MULTILINE)  # no numbered headings
