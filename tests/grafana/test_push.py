"""`icone grafana push` through grafana-client against a local server checking Grafana's API
(tests/grafana/fake_grafana.py): everything created once, a second push writes nothing, a
dashboard saved meanwhile is a 412 conflict that overwrites nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from grafana.alerts import GROUP, GROUP_INTERVAL_S
from grafana.errors import PushError, VersionConflict
from grafana.export import DataSourceSettings, alert_rules, dashboards, datasource
from grafana.push import connect, push
from tests.grafana.fake_grafana import TOKEN, fake_grafana

SETTINGS = DataSourceSettings(
    host="db", port="5432", database="icone", sslmode="disable", timescaledb=True
)


def _datasource() -> dict[str, Any]:
    ds = datasource(SETTINGS)
    ds["secureJsonData"] = {"password": "s3cret"}
    return ds


def _push(
    url: str, token: str = TOKEN, boards: list[dict[str, Any]] | None = None, **kw: Any
) -> Any:
    return push(
        connect(url, token),
        _datasource(),
        boards if boards is not None else list(dashboards().values()),
        alert_rules(),
        GROUP,
        GROUP_INTERVAL_S,
        **kw,
    )


def test_first_push_creates_everything_and_the_second_changes_nothing() -> None:
    with fake_grafana() as (url, state):
        first = _push(url)
        assert len(first.created) == 1 + 1 + 4 + 5  # folder, data source, boards, rules
        assert first.updated == ["rule group icone"]  # Grafana's default interval -> 5 min
        assert set(state.dashboards) == {b["uid"] for b in dashboards().values()}
        assert state.groups[("icone", GROUP)]["interval"] == GROUP_INTERVAL_S
        assert all(d["meta"]["folderUid"] == "icone" for d in state.dashboards.values())
        writes = len(state.writes())
        second = _push(url)
        assert not second.changed
        assert len(state.writes()) == writes, state.writes()[writes:]


def test_a_changed_board_is_updated_against_the_version_read() -> None:
    with fake_grafana() as (url, state):
        _push(url)
        boards = list(dashboards().values())
        changed = copy.deepcopy(boards)
        changed[0]["title"] += " (v2)"
        report = _push(url, boards=changed)
        assert report.updated == [f"dashboard {changed[0]['uid']}"]
        stored = state.dashboards[changed[0]["uid"]]["dashboard"]
        assert (stored["title"], stored["version"]) == (changed[0]["title"], 2)


def test_a_board_saved_in_grafana_meanwhile_is_a_412_conflict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with fake_grafana() as (url, state):
        _push(url)
        uid = next(iter(dashboards().values()))["uid"]

        def someone_saves(got: str) -> None:
            state.dashboards[got]["dashboard"]["version"] += 1
            state.dashboards[got]["dashboard"]["title"] = "edited by hand"

        state.after_dashboard_get = someone_saves
        changed = copy.deepcopy(list(dashboards().values()))
        changed[0]["description"] = "new"
        with pytest.raises(VersionConflict, match="412"):
            _push(url, boards=changed)
        assert state.dashboards[uid]["dashboard"]["title"] == "edited by hand"  # kept
        state.after_dashboard_get = None
        forced = _push(url, boards=changed, force=True)
        assert f"dashboard {uid}" in forced.updated
        assert state.dashboards[uid]["dashboard"]["description"] == "new"


def test_a_wrong_token_is_refused_and_nothing_written() -> None:
    with fake_grafana() as (url, state):
        with pytest.raises(PushError, match=r"401|Unauthorized"):
            _push(url, token="wrong")
        assert state.writes() == []


def test_an_unreachable_grafana_is_a_clear_error() -> None:
    with fake_grafana() as (url, _state):
        pass  # stopped: nothing listens there any more
    with pytest.raises(PushError, match="unreachable"):
        _push(url)
