"""Offer routes: score users for an offer expression, lookalike audiences."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["offers"])
