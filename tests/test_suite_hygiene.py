"""The suite itself: shared helpers live in helper modules (never imported from another test
module), and the reference data CI always has is never silently skipped there."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, reference_missing

TEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:tests\.)?test_\w+", re.MULTILINE)


def test_no_test_module_imports_another():
    found = [f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
             for folder in (ROOT / "tests", ROOT / "policies" / "tests") for path in sorted(folder.glob("*.py"))
             for match in TEST_IMPORT.finditer(path.read_text())]
    assert not found, "import shared helpers from tests/helpers.py (or a *_support module), not a test module:\n" \
        + "\n".join(found)


def test_missing_reference_data_fails_in_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="required when CI is set"):
        reference_missing(ci=True)
    with pytest.raises(pytest.skip.Exception, match="reference data not found"):
        reference_missing(ci=False)
