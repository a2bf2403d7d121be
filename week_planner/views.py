"""Public pages (filled in by the programme-page work)."""

from flask import Blueprint

pages = Blueprint("pages", __name__)
