"""Authentication (API keys) and authorization (roles, site scopes).

Roles:
- admin: everything, every site; the only role that manages API keys and reads the audit log;
- energy_manager: devices and measurements of the sites in scope; registers and changes sites;
- technician: devices (registration, meter swaps, link quality) and recent measurements in
  scope;
- reporting: aggregated indicators only, never per-device readings (CNIL: meter data of
  dwellings is personal data).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.apikeys import ApiKey

# action -> roles allowed to do it
PERMISSIONS: dict[str, frozenset[str]] = {
    "devices:read": frozenset({"admin", "energy_manager", "technician"}),
    "devices:write": frozenset({"admin", "technician"}),
    "measurements:read": frozenset({"admin", "energy_manager", "technician"}),
    "indicators:read": frozenset({"admin", "energy_manager", "reporting"}),
    "operations:read": frozenset({"admin"}),
    "sites:read": frozenset({"admin", "energy_manager", "technician"}),
    # the list of sites (id, name, kind, floor area): the strategy dashboard's keys too
    "sites:list": frozenset({"admin", "energy_manager", "technician", "reporting"}),
    "sites:write": frozenset({"admin", "energy_manager"}),
    "keys:manage": frozenset({"admin"}),
    "audit:read": frozenset({"admin"}),
    "self:read": frozenset({"admin", "energy_manager", "technician", "reporting"}),  # whoami
}


@dataclass(frozen=True, slots=True)
class Principal:
    key: ApiKey

    @property
    def role(self) -> str:
        return self.key.role

    def can(self, action: str) -> bool:
        return self.key.role in PERMISSIONS[action]

    @property
    def actor(self) -> str:
        """How the audit log names this caller (the key id is public; the secret never)."""
        return f"key:{self.key.id} {self.key.name}"

    @property
    def scoped(self) -> bool:
        return self.key.site_ids is not None

    def sees_site(self, site_id: str | None) -> bool:
        """Unscoped keys see every site; scoped keys only theirs (and no unassigned device)."""
        if self.key.site_ids is None:
            return True
        return site_id is not None and site_id in self.key.site_ids

    @property
    def site_filter(self) -> list[str] | None:
        """For SQL: None = no restriction, else the allowed site ids."""
        return None if self.key.site_ids is None else list(self.key.site_ids)
