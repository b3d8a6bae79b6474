"""Griffe extension: render Keras-style docstring sections readably.

keras_vae docstrings write their examples as Keras does, a doctest session
under an `Example:` line at the docstring's own indentation:

    Example:

    >>> vae = keras_vae.models.VAE(latent_dim=2)

Markdown would read `>>>` as nested block quotes and `a[b](c)` as a link, so
this extension fences every doctest run (a `>>>` line, its `...` lines and its
expected output, up to a blank line) as a `pycon` code block before
mkdocstrings parses the docstring. Fenced blocks (```python, ```none math) are
left as they are. The `Example:` line becomes a bold title, and the entries of
a `Call arguments:` section (not a Google section kind, so mkdocstrings shows
it as a titled block of text) become a list, one item per argument.

It also documents the functions a package imports from a submodule of the
same name (`from keras_vae.datasets.load import load`): Python binds the
package attribute to the function, but Griffe keeps the submodule under that
name (a known Griffe limitation), so the function would be missing from the
package's page.
"""

import contextlib
import re

import griffe

_ENTRY = re.compile(r"^(\*{0,2}\w+): (.*)$")
_LIST_SECTIONS = ("Call arguments:",)
_TITLES = ("Example:", "Examples:")


def _indent(line):
    return len(line) - len(line.lstrip())


def list_entries(text):
    """Return `text` with `name: description` lines of some sections as a list."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if line.strip() not in _LIST_SECTIONS:
            continue
        title_indent = _indent(line)
        base = None
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > title_indent):
            body = lines[i]
            if body.strip() and base is None:
                base = _indent(body)
            match = _ENTRY.match(body.strip())
            if match and _indent(body) == base:
                body = f"{body[:base]}- `{match.group(1)}`: {match.group(2)}"
            out.append(body)
            i += 1
    return "\n".join(out)


def bold_titles(text):
    """Return `text` with unindented `Example:` lines as bold titles."""
    return "\n".join(f"**{line}**" if line in _TITLES else line for line in text.split("\n"))


def fence_doctests(text):
    """Return `text` with each run of doctest lines inside a ```pycon fence."""
    lines = text.split("\n")
    out = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        out.append(indent + "```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(indent + "```")
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence the doctest examples of every loaded object's docstring."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            text = fence_doctests(obj.docstring.value)
            obj.docstring.value = bold_titles(list_entries(text))

    def on_package(self, *, pkg, **kwargs):
        modules = []
        stack = [pkg]
        while stack:
            module = stack.pop()
            modules.append(module)
            stack.extend(m for m in module.members.values() if not m.is_alias and m.is_module)
        # Resolve the package's imports first: some go through the submodules
        # replaced below (`from keras_vae.diagnostics.elbo_surgery import ...`).
        for module in modules:
            for member in module.members.values():
                if member.is_alias:
                    with contextlib.suppress(griffe.AliasResolutionError, griffe.CyclicAliasError):
                        member.final_target  # noqa: B018
        for module in modules:
            for name, member in list(module.members.items()):
                if member.is_alias or not member.is_module or name not in member.members:
                    continue
                if module.imports.get(name) == f"{member.path}.{name}":
                    module.members[name] = griffe.Alias(name, member.members[name], parent=module)
