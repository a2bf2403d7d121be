"""The security headers, in one place: ``init_app(app)`` sets them on every response the
application gives, error pages included (404, 405, 410, 500, a form's 400), whichever
part of the site or of Flask made it.

Every response is ``nosniff``. Every HTML one has a Content-Security-Policy (the page's
own if it set one, else the site's), a Referrer-Policy and an X-Frame-Options that says
what the policy's ``frame-ancestors`` says, for browsers that know only the older header.
``protect`` is what a public page sets itself; ``personal`` what a page holding a
personal token or a form sets (the subscription pages): never cached, never framed,
never sent as a referrer.
"""

from __future__ import annotations

from flask import Flask, Response

# Everything a page loads comes from this host (the pages must work on the national
# network when international links are down); the browser enforces it.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; "
                           "style-src 'self' 'unsafe-inline'; script-src 'self'; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'self'; "
                           "form-action 'self'")
# The subscription pages run no script and are never framed.
PERSONAL_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                   "script-src 'none'; object-src 'none'; base-uri 'none'; "
                   "frame-ancestors 'none'; form-action 'self'")
PUBLIC_REFERRER_POLICY = "strict-origin-when-cross-origin"


def protect(response: Response, private: bool = False) -> Response:
    """The security headers every HTML page of the site carries."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    # A preview link carries its key: never send it to another site.
    response.headers["Referrer-Policy"] = "same-origin" if private \
        else PUBLIC_REFERRER_POLICY
    return response


def personal(response: Response) -> Response:
    """Personal pages with a CSRF token or a link's token: never cached, never framed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = PERSONAL_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"  # the links carry tokens
    return response


def every_response(response: Response) -> Response:
    """Completes what the view (or Flask's own error page) did not set."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype in ("text/html", "application/xhtml+xml"):
        policy = headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Referrer-Policy", PUBLIC_REFERRER_POLICY)
        headers.setdefault("X-Frame-Options",
                           "DENY" if "frame-ancestors 'none'" in policy else "SAMEORIGIN")
    return response


def init_app(app: Flask) -> None:
    app.after_request(every_response)
