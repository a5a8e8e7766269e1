"""Banner routes: choose a banner (bandit policy), record feedback, stats."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["banners"])
