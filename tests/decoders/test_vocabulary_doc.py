"""docs/measurements.md must match the vocabulary in code (decoders/vocabulary.py + catalogue)."""

from __future__ import annotations

import pytest

from decoders import vocabulary_doc
from decoders.vocabulary import EVENT_CODES, METRICS

REGENERATE = (
    "run `.venv/bin/python -m decoders.vocabulary_doc --write` and commit docs/measurements.md"
)


def test_doc_table_is_up_to_date() -> None:
    document = vocabulary_doc.DOC_PATH.read_text(encoding="utf-8")
    assert vocabulary_doc.extract_block(document) == vocabulary_doc.render_table(), (
        f"docs/measurements.md is out of date with the code: {REGENERATE}"
    )


def test_every_added_metric_says_why() -> None:
    added = set(METRICS) - vocabulary_doc.ORIGINAL_METRICS
    undocumented = added - set(vocabulary_doc.ADDITIONS)
    assert not undocumented, (
        f"metrics added beyond the original contract need a reason in "
        f"decoders/vocabulary_doc.py ADDITIONS: {sorted(undocumented)}"
    )
    stale = set(vocabulary_doc.ADDITIONS) - added
    assert not stale, f"ADDITIONS names metrics that are not additions: {sorted(stale)}"
    # the original contract is never shrunk silently
    assert set(METRICS) >= vocabulary_doc.ORIGINAL_METRICS


def test_every_metric_has_a_typical_source() -> None:
    table = vocabulary_doc.render_table()
    for line in table.splitlines():
        if line.startswith("| `") and line.count("|") == 7:  # the metrics table
            assert not line.endswith("| - |"), f"no typical source: {line}"


def test_every_event_code_has_a_meaning() -> None:
    assert set(vocabulary_doc.EVENT_MEANINGS) == set(EVENT_CODES)


def test_table_lists_every_metric_and_event_once() -> None:
    table = vocabulary_doc.render_table()
    for name, spec in METRICS.items():
        assert f"| `{name}` | `{spec.unit}` | {spec.kind.value} |" in table
    for code in EVENT_CODES:
        assert table.count(f"| `{code}` | {vocabulary_doc.EVENT_MEANINGS[code]} |") == 1


def test_replace_block_round_trips() -> None:
    document = f"intro\n{vocabulary_doc.BEGIN_MARKER}\nold\n{vocabulary_doc.END_MARKER}\noutro\n"
    table = vocabulary_doc.render_table({}, {})
    updated = vocabulary_doc.replace_block(document, table)
    assert updated.startswith("intro\n")
    assert updated.endswith("outro\n")
    assert vocabulary_doc.extract_block(updated) == table
    with pytest.raises(ValueError, match="marker"):
        vocabulary_doc.replace_block("no markers here", table)
