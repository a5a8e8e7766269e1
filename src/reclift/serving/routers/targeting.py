"""Targeting routes: uplift scores and audiences."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["targeting"])
