"""The registry's routes, as one router for api/main.py."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import admin, device_registry, field, site_registry

router = APIRouter()
router.include_router(device_registry.router)
router.include_router(device_registry.imports)
router.include_router(field.router)
router.include_router(site_registry.router)
router.include_router(admin.router)
