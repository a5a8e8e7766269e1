"""Session recommendation route: next clicks, carts and orders from a live session."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["sessions"])
