"""MkDocs hooks of the keras_vae site (loaded by `hooks:` in mkdocs.yml).

The README, the examples' READMEs (with their scripts), the benchmark results
and the changelog are pages of the site, read from where they live in the
repository instead of being copied into `docs/`: `on_files` adds them at their
repository paths, so their relative links (`../../benchmarks/RESULTS.md`,
`train.py`) resolve as they do on a code host. `on_page_markdown` points links
to a directory (`examples/quickstart`) at that directory's README page.
"""

import pathlib
import re

from mkdocs.structure.files import File

REPO = pathlib.Path(__file__).resolve().parent.parent

# Repository files served as pages (Markdown) or as static files (the rest).
MIRRORED = (
    "README.md",
    "CHANGELOG.md",
    "examples/*/README.md",
    "examples/*.py",
    "examples/*/*.py",
    "benchmarks/RESULTS.md",
    "benchmarks/PEER.md",
    "benchmarks/*.py",
    "benchmarks/figures/*.png",
)

_LINK = re.compile(r"(\]\()([^)\s#]+)((?:#[^)\s]*)?\))")


def on_files(files, config):
    for pattern in MIRRORED:
        for path in sorted(REPO.glob(pattern)):
            uri = path.relative_to(REPO).as_posix()
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown, page, config, files):
    base = (REPO / page.file.src_uri).parent

    def to_readme(match):
        target = match.group(2)
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        if (base / target / "README.md").is_file():
            target = target.rstrip("/") + "/README.md"
        return match.group(1) + target + match.group(3)

    return _LINK.sub(to_readme, markdown)
