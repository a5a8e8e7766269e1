"""Item-to-item routes: similar items and items bought together."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["items"])
