"""Shared pieces of the organisers' desk tests: signing in through a real link, reading a
page's forms, and the sample programme's file."""

from __future__ import annotations

from pathlib import Path

from lxml import html as lxml_html

from week_planner.clock import utc_now
from week_planner.reminders import sign_in_links
from week_planner.store import app_engine
from week_planner.web import organise_accounts as accounts

PROGRAMME = "khalilabad-1404"
ORGANISER = "clerk@khalilabad.example.ir"
MASKED = "c***@k***.ir"


def add_organiser(app, address: str = ORGANISER, programmes=(PROGRAMME,),
                  all_programmes: bool = False) -> accounts.Organiser:
    return accounts.add(app_engine(app), address, programmes, all_programmes, utc_now())


def link_path(app, address: str = ORGANISER) -> str:
    """A fresh sign-in link's path, as ``week-planner organisers link`` makes it."""
    key = sign_in_links.new_link(app_engine(app), address, utc_now())
    return sign_in_links.LINK_PATH + sign_in_links.link_token(app, key)


def form_values(response, selector: str = "form#editor") -> dict[str, str]:
    """The values a browser would submit from the page's form (buttons aside)."""
    page = lxml_html.fromstring(response.get_data(as_text=True))
    form = page.cssselect(selector)[0]
    values = {}
    for field in form.cssselect("input, textarea, select"):
        name = field.get("name")
        if not name or field.get("type") in ("checkbox", "radio", "file", "submit"):
            continue
        if field.tag == "textarea":  # a browser drops the first line end, as HTML says
            text = field.text or ""
            values[name] = text[1:] if text.startswith("\n") else text
        elif field.tag == "select":
            chosen = field.cssselect("option[selected]") or field.cssselect("option")
            values[name] = chosen[0].get("value") if chosen else ""
        else:
            values[name] = field.get("value") or ""
    return values


def csrf(response) -> str:
    page = lxml_html.fromstring(response.get_data(as_text=True))
    return page.cssselect("input[name=csrf_token]")[0].get("value")


def sign_in(client, app, address: str = ORGANISER):
    path = link_path(app, address)
    page = client.get(path)
    assert page.status_code == 200
    return client.post(path, data={"csrf_token": csrf(page)})


def texts(response, selector: str) -> list[str]:
    page = lxml_html.fromstring(response.get_data(as_text=True))
    return [element.text_content().strip() for element in page.cssselect(selector)]


def schedule_file(app, programme: str = PROGRAMME) -> Path:
    return Path(app.config["SCHEDULES_DIR"]) / f"{programme}.yaml"
