"""/docs and /redoc load everything from the service itself: they render offline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

# What each kind of asset must be served as.
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}
# Any absolute or protocol-relative URL in the page: `//` followed by a host name
# (a JavaScript comment has a space after its `//`).
ABSOLUTE_URL = re.compile(r"(?:https?:)?//([\w.-]+(?::\d+)?)")


class References(HTMLParser):
    """The URLs a page makes the browser load: scripts, styles, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src", "redoc": "spec-url"}
        name = wanted.get(tag)
        for key, value in attrs:
            if key == name and value:
                self.urls.append(value)


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_from_the_service(api_url: str, page: str) -> None:
    response = httpx.get(f"{api_url}{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text

    own_host = urlsplit(api_url).netloc
    assert set(ABSOLUTE_URL.findall(html)) <= {own_host}, "the page names another host"

    urls = references(html)
    kinds = {urlsplit(url).path.rsplit(".", 1)[-1] for url in urls}
    assert {"js", "png"} <= kinds, f"expected a script and a favicon in {urls}"
    for url in urls:
        absolute = urljoin(f"{api_url}{page}", url)
        assert urlsplit(absolute).netloc == own_host, url
        asset = httpx.get(absolute)
        assert asset.status_code == 200, url
        assert asset.content, url
        suffix = "." + urlsplit(absolute).path.rsplit(".", 1)[-1]
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url


def test_swagger_ui_loads_its_stylesheet_and_the_schema(api_url: str) -> None:
    html = httpx.get(f"{api_url}/docs").text
    assert any(url.endswith(".css") for url in references(html))
    spec_url = re.search(r"url: '([^']+)'", html)
    assert spec_url is not None
    spec = httpx.get(urljoin(f"{api_url}/docs", spec_url.group(1)))
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "revenda-ledger"


def test_every_reference_of_the_schema_resolves_in_it(api_url: str) -> None:
    # ReDoc shows nothing but an error when one `$ref` points nowhere.
    spec = httpx.get(f"{api_url}/openapi.json").json()
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs.append(ref)
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec)
    assert refs, "the schema has no references at all"
    for ref in set(refs):
        assert ref.startswith("#/"), ref
        target: object = spec
        for part in ref[2:].split("/"):
            assert isinstance(target, dict), ref
            assert part in target, f"{ref} points nowhere"
            target = target[part]
