"""A local HTTP server speaking the parts of Grafana's HTTP API that `icone grafana push`
uses (Grafana itself cannot run here), and checking each request as Grafana would: paths and
methods, the bearer token, payload shapes, uid conflicts, and the dashboard save semantics
(`overwrite`, `version`: a save against a stale version is refused with 412)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "glsa_test_token"
Response = tuple[int, dict[str, Any]]


@dataclass
class GrafanaState:
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # called after a dashboard GET: lets a test simulate someone saving it meanwhile
    after_dashboard_get: Callable[[str], None] | None = None

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


def _require(body: dict[str, Any], *keys: str) -> Response | None:
    absent = [k for k in keys if k not in body]
    return (400, {"message": f"bad request: missing {absent}"}) if absent else None


class _Handler(BaseHTTPRequestHandler):
    state: GrafanaState  # set on the subclass built per server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        self.state.requests.append((method, self.path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._reply(401, {"message": "Unauthorized"})
            return
        body: dict[str, Any] = {}
        if method in ("POST", "PUT"):
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                self._reply(415, {"message": "Content-Type must be application/json"})
                return
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
        status, reply = self._route(method, self.path.split("?")[0].strip("/").split("/"), body)
        self._reply(status, reply)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _route(self, method: str, parts: list[str], body: dict[str, Any]) -> Response:
        s = self.state
        match method, parts:
            case "GET", ["api", "folders", uid]:
                return (
                    (200, s.folders[uid])
                    if uid in s.folders
                    else (404, {"message": "folder not found"})
                )
            case "POST", ["api", "folders"]:
                if (bad := _require(body, "title", "uid")) is not None:
                    return bad
                if body["uid"] in s.folders:
                    return 409, {"message": "a folder with the same uid already exists"}
                s.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
                return 200, s.folders[body["uid"]]
            case "PUT", ["api", "folders", uid]:
                folder = s.folders.get(uid)
                if folder is None:
                    return 404, {"message": "folder not found"}
                if not body.get("overwrite") and body.get("version") != folder["version"]:
                    return 412, {"message": "the folder has been changed by someone else"}
                folder.update(title=body["title"], version=folder["version"] + 1)
                return 200, folder
            case "GET", ["api", "datasources", "uid", uid]:
                ds = s.datasources.get(uid)
                if ds is None:
                    return 404, {"message": "Data source not found"}
                shown = {k: v for k, v in ds.items() if k != "secureJsonData"}
                shown["secureJsonFields"] = dict.fromkeys(ds.get("secureJsonData", {}), True)
                return 200, shown
            case "POST", ["api", "datasources"]:
                if (bad := _require(body, "name", "type", "access", "url", "uid")) is not None:
                    return bad
                if body["uid"] in s.datasources or any(
                    d["name"] == body["name"] for d in s.datasources.values()
                ):
                    return 409, {"message": "data source with the same name already exists"}
                s.datasources[body["uid"]] = {**body, "id": len(s.datasources) + 1, "version": 1}
                return 200, {"message": "Datasource added", "datasource": body}
            case "PUT", ["api", "datasources", "uid", uid]:
                if uid not in s.datasources:
                    return 404, {"message": "Data source not found"}
                if (bad := _require(body, "name", "type", "access", "url")) is not None:
                    return bad
                old = s.datasources[uid]
                s.datasources[uid] = {**body, "id": old["id"], "version": old["version"] + 1}
                return 200, {"message": "Datasource updated"}
            case "GET", ["api", "dashboards", "uid", uid]:
                stored = s.dashboards.get(uid)
                if stored is None:
                    return 404, {"message": "Dashboard not found"}
                reply = copy.deepcopy(stored)
                if s.after_dashboard_get is not None:
                    s.after_dashboard_get(uid)
                return 200, reply
            case "POST", ["api", "dashboards", "db"]:
                return self._save_dashboard(body)
            case "GET", ["api", "v1", "provisioning", "alert-rules", uid]:
                return (200, s.rules[uid]) if uid in s.rules else (404, {"message": "not found"})
            case "POST", ["api", "v1", "provisioning", "alert-rules"]:
                return self._save_rule(body, None)
            case "PUT", ["api", "v1", "provisioning", "alert-rules", uid]:
                if uid not in s.rules:
                    return 404, {"message": "not found"}
                return self._save_rule(body, uid)
            case "GET", ["api", "v1", "provisioning", "folder", folder, "rule-groups", group]:
                found = s.groups.get((folder, group))
                return (200, found) if found else (404, {"message": "rule group not found"})
            case "PUT", ["api", "v1", "provisioning", "folder", folder, "rule-groups", group]:
                if (folder, group) not in s.groups:
                    return 404, {"message": "rule group not found"}
                if not isinstance(body.get("interval"), int) or body["interval"] % 10:
                    return 400, {"message": "interval must be a multiple of 10 s"}
                s.groups[(folder, group)]["interval"] = body["interval"]
                return 200, s.groups[(folder, group)]
        return 404, {"message": f"no route {method} /{'/'.join(parts)}"}

    def _save_dashboard(self, body: dict[str, Any]) -> Response:
        s = self.state
        if (bad := _require(body, "dashboard")) is not None:
            return bad
        board = dict(body["dashboard"])
        if (bad := _require(board, "uid", "title")) is not None:
            return bad
        if body.get("folderUid") not in s.folders:
            return 400, {"message": "folder not found"}
        uid = board["uid"]
        stored = s.dashboards.get(uid)
        version = 1
        if stored is not None:
            current = stored["dashboard"]["version"]
            if not body.get("overwrite") and board.get("version") != current:
                return 412, {
                    "status": "version-mismatch",
                    "message": "The dashboard has been changed by someone else",
                }
            version = current + 1
        elif board.get("id"):
            return 404, {"message": "Dashboard not found"}
        board.update(id=len(s.dashboards) + 1 if stored is None else stored["dashboard"]["id"])
        board["version"] = version
        s.dashboards[uid] = {"dashboard": board, "meta": {"folderUid": body["folderUid"]}}
        return 200, {"status": "success", "uid": uid, "version": version, "id": board["id"]}

    def _save_rule(self, body: dict[str, Any], uid: str | None) -> Response:
        s = self.state
        required = ("title", "condition", "data", "folderUID", "ruleGroup", "for", "orgID",
                    "noDataState", "execErrState")  # fmt: skip
        if (bad := _require(body, *required)) is not None:
            return bad
        if body["folderUID"] not in s.folders:
            return 400, {"message": "folder does not exist"}
        if body["condition"] not in [d.get("refId") for d in body["data"]]:
            return 400, {"message": "condition refers to an unknown query"}
        if uid is None:
            uid = body.get("uid") or f"r{len(s.rules)}"
            if uid in s.rules:
                return 409, {"message": "a rule with this uid already exists"}
        rule = {**copy.deepcopy(body), "uid": uid, "id": len(s.rules) + 1, "provenance": "api"}
        s.rules[uid] = rule
        key = (body["folderUID"], body["ruleGroup"])
        group = s.groups.setdefault(
            key, {"title": body["ruleGroup"], "folderUid": key[0], "interval": 60, "rules": []}
        )
        group["rules"] = [r for r in s.rules.values() if (r["folderUID"], r["ruleGroup"]) == key]
        return (201 if len(s.rules) > rule["id"] - 1 else 200), rule


@contextmanager
def fake_grafana() -> Iterator[tuple[str, GrafanaState]]:
    state = GrafanaState()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
