"""Settings of ChirpStack provisioning (`ICONE_CHIRPSTACK__*`): pydantic only, so that
reading the settings does not load the gRPC stack."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator

from storage.appkey_cipher import AppKeyCipher, parse_key


class ChirpStackTarget(BaseModel):
    tenant_id: str
    application_id: str


class ChirpStackSettings(BaseModel):
    """`ICONE_CHIRPSTACK__*`. Without `url`, registration works locally only (state `off`).

    The target (tenant, application) of a device is the one of its site in `by_site`, else of
    its site's kind in `by_site_kind`, else the defaults."""

    url: str | None = None  # host:port of ChirpStack's gRPC API, e.g. chirpstack:8080
    api_token: SecretStr | None = None
    tls: bool = False
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    tenant_id: str | None = None
    application_id: str | None = None
    by_site_kind: dict[str, ChirpStackTarget] = Field(default_factory=dict)
    by_site: dict[str, ChirpStackTarget] = Field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def target(self, site_id: str | None, site_kind: str | None) -> ChirpStackTarget | None:
        if site_id is not None and site_id in self.by_site:
            return self.by_site[site_id]
        if site_kind is not None and site_kind in self.by_site_kind:
            return self.by_site_kind[site_kind]
        if self.tenant_id and self.application_id:
            return ChirpStackTarget(tenant_id=self.tenant_id, application_id=self.application_id)
        return None


class RegistrySettings(BaseModel):
    """`ICONE_REGISTRY__*`: the key that encrypts AppKeys kept until ChirpStack holds them.

    Without `secret_key` no AppKey is ever stored (see docs/registry.md)."""

    secret_key: SecretStr | None = None  # 32 bytes, URL-safe base64 (icone devices genkey)
    old_secret_keys: list[SecretStr] = Field(default_factory=list)  # read-only, for rotation

    @field_validator("secret_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_key(value.get_secret_value())
        return value

    @field_validator("old_secret_keys")
    @classmethod
    def _old_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            parse_key(key.get_secret_value())
        return value

    def cipher(self) -> AppKeyCipher | None:
        if self.secret_key is None:
            return None
        older = tuple(parse_key(k.get_secret_value()) for k in self.old_secret_keys)
        return AppKeyCipher(parse_key(self.secret_key.get_secret_value()), older)
