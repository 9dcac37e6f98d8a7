"""`icone grafana push`: the folder, data source, dashboards and alert rules through Grafana's
HTTP API (grafana-client), idempotently: each object is read first and written only when it
differs, so a second push writes nothing. A dashboard is updated against the version read;
if someone saved it meanwhile Grafana answers 412 and the push stops without overwriting
(unless forced)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grafana.errors import PushError, VersionConflict
from grafana.jsondiff import missing
from grafana.panels import FOLDER_TITLE, FOLDER_UID

MESSAGE = "icone grafana push"
_DATASOURCE_FIELDS = ("name", "type", "access", "url", "user", "isDefault", "jsonData")


@dataclass(slots=True)
class PushReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _get(call: Any, *args: Any) -> dict[str, Any] | None:
    """A GET that answers None for 404 (the object does not exist yet)."""
    from grafana_client.client import GrafanaClientError

    try:
        result: dict[str, Any] = call(*args)
    except GrafanaClientError as exc:
        if _status(exc) == 404:
            return None
        raise
    return result


class Pusher:
    def __init__(self, api: Any, force: bool = False) -> None:
        self._api = api  # grafana_client.GrafanaApi
        self._force = force
        self.report = PushReport()

    def folder(self) -> None:
        name = f"folder {FOLDER_UID}"
        current = _get(self._api.folder.get_folder, FOLDER_UID)
        if current is None:
            self._api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
            self.report.created.append(name)
        elif current.get("title") != FOLDER_TITLE:
            self._api.folder.update_folder(
                FOLDER_UID, title=FOLDER_TITLE, version=current.get("version"), overwrite=False
            )
            self.report.updated.append(name)
        else:
            self.report.unchanged.append(name)

    def datasource(self, wanted: dict[str, Any]) -> None:
        uid = wanted["uid"]
        name = f"data source {uid}"
        current = _get(self._api.datasource.get_datasource_by_uid, uid)
        if current is None:
            self._api.datasource.create_datasource(wanted)
            self.report.created.append(name)
            return
        same = not missing({k: wanted[k] for k in _DATASOURCE_FIELDS}, current)
        has_password = bool((current.get("secureJsonFields") or {}).get("password"))
        if same and has_password:
            self.report.unchanged.append(name)
            return
        self._api.datasource.update_datasource_by_uid(uid, wanted)
        self.report.updated.append(name)

    def dashboard(self, board: dict[str, Any]) -> None:
        uid = board["uid"]
        name = f"dashboard {uid}"
        current = _get(self._api.dashboard.get_dashboard, uid)
        body: dict[str, Any] = {
            "dashboard": dict(board),
            "folderUid": FOLDER_UID,
            "overwrite": self._force,
            "message": MESSAGE,
        }
        if current is not None:
            stored = {k: v for k, v in current["dashboard"].items() if k not in ("id", "version")}
            in_folder = current.get("meta", {}).get("folderUid") == FOLDER_UID
            if stored == board and in_folder:
                self.report.unchanged.append(name)
                return
            body["dashboard"]["version"] = current["dashboard"].get("version")
        try:
            self._api.dashboard.update_dashboard(body)
        except Exception as exc:
            if _status(exc) == 412:
                raise VersionConflict(
                    f"{name} was changed in Grafana while pushing (412 {exc}); "
                    "nothing overwritten: push again, or --force to overwrite"
                ) from exc
            raise
        (self.report.created if current is None else self.report.updated).append(name)

    def alert_rule(self, rule: dict[str, Any]) -> None:
        uid = rule["uid"]
        name = f"alert rule {uid}"
        current = _get(self._api.alertingprovisioning.get_alertrule, uid)
        if current is None:
            self._api.alertingprovisioning.create_alertrule(rule)
            self.report.created.append(name)
        elif missing(rule, current):
            self._api.alertingprovisioning.update_alertrule(uid, rule)
            self.report.updated.append(name)
        else:
            self.report.unchanged.append(name)

    def rule_group_interval(self, group: str, seconds: int) -> None:
        name = f"rule group {group}"
        current = self._api.alertingprovisioning.get_rule_group(FOLDER_UID, group)
        if current.get("interval") == seconds:
            self.report.unchanged.append(name)
            return
        self._api.alertingprovisioning.update_rule_group(
            FOLDER_UID, group, {**current, "interval": seconds}
        )
        self.report.updated.append(name)


def push(
    api: Any,
    datasource: dict[str, Any],
    dashboards: list[dict[str, Any]],
    rules: list[dict[str, Any]],
    group: str,
    group_interval_s: int,
    force: bool = False,
) -> PushReport:
    """Create or update everything; raises PushError (VersionConflict on a 412)."""
    from grafana_client.client import GrafanaException

    pusher = Pusher(api, force)
    try:
        pusher.folder()
        pusher.datasource(datasource)
        for board in dashboards:
            pusher.dashboard(board)
        for rule in rules:
            pusher.alert_rule(rule)
        if rules:
            pusher.rule_group_interval(group, group_interval_s)
    except GrafanaException as exc:
        raise PushError(f"Grafana refused the push: {exc}") from exc
    except OSError as exc:
        raise PushError(f"Grafana is unreachable: {exc}") from exc
    return pusher.report


def connect(url: str, token: str, timeout_s: float = 10.0) -> Any:
    """A grafana-client API object authenticated with a service-account token."""
    try:
        from grafana_client.api import GrafanaApi
    except ImportError as exc:
        raise PushError("grafana-client is not installed: pip install 'icone[grafana]'") from exc
    return GrafanaApi.from_url(url, credential=token, timeout=timeout_s)
