"""Security headers on every flask-avg page, and none forced on the host's pages."""

from __future__ import annotations

from flask_avg.core.web import SECURITY_HEADERS
from tests.support.acl import client_for, make_users


def _get_routes(app) -> list[str]:
    """Every flask-avg GET route without URL parameters."""
    return sorted(
        str(rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("avg_")
        and not rule.arguments
        and "GET" in (rule.methods or ())
        and not rule.endpoint.endswith(".static")
    )


def test_every_flask_avg_page_carries_the_headers(app):
    users = make_users()
    client = client_for(app, users["super_user"])
    routes = _get_routes(app)
    assert len(routes) > 10
    for url in routes:
        response = client.get(url)
        assert response.status_code < 500, url
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name), (url, name)
        assert "no-store" in response.headers["Cache-Control"], url
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, url
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], url


def test_the_hosts_own_pages_are_left_alone(app, client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers
    assert "X-Frame-Options" not in response.headers
