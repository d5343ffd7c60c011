"""The wallboard's and the sign-in page's markup, parsed: what an accessibility review checks
without a browser (WCAG 2.1 AA). The page's language, landmarks, a name for every control,
references that resolve, definition lists in order (term, then value), names only where
ARIA allows them, live regions for what arrives while nobody looks (the connection, the
outcome of an action, a new alert), native buttons, and a visible focus ring."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from line311.dashboard.api import STATIC_DIR, _login_page

VOID = frozenset({"meta", "link", "input", "br", "img", "hr", "source", "wbr"})
# elements whose role is generic or paragraph: ARIA 1.2 prohibits naming them
UNNAMEABLE = frozenset({"p", "span", "div", "dd", "dt", "b", "i", "small", "strong", "em"})


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def ancestors(self) -> list[Node]:
        found, node = [], self.parent
        while node is not None:
            found.append(node)
            node = node.parent
        return found

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)


class Tree(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.at = self.root
        self.nodes: list[Node] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(node)
        self.nodes.append(node)
        if tag not in VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        node = self.at
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        self.at.text += data

    def by_tag(self, *tags: str) -> list[Node]:
        return [n for n in self.nodes if n.tag in tags]

    def by_id(self) -> dict[str, Node]:
        return {n.attrs["id"]: n for n in self.nodes if "id" in n.attrs}


PAGES = {
    "wallboard": (STATIC_DIR / "index.html").read_text(encoding="utf-8"),
    "sign-in": bytes(_login_page().body).decode(),
    "sign-in refused": bytes(_login_page("Wrong username or password.", 401).body).decode(),
}


@pytest.fixture(params=PAGES)
def page(request: pytest.FixtureRequest) -> Tree:
    return Tree(PAGES[request.param])


def test_the_page_says_its_language_and_has_a_title(page: Tree) -> None:
    [html] = page.by_tag("html")
    assert html.attrs.get("lang") == "en"
    [title] = page.by_tag("title")
    assert title.text.strip()


def test_the_page_has_one_main_landmark_and_one_top_heading(page: Tree) -> None:
    assert len(page.by_tag("main")) == 1
    assert len(page.by_tag("h1")) == 1


def test_ids_are_unique_and_every_reference_resolves(page: Tree) -> None:
    ids = [n.attrs["id"] for n in page.nodes if "id" in n.attrs]
    assert len(ids) == len(set(ids))
    known = set(ids)
    for node in page.nodes:
        for attr in ("aria-labelledby", "aria-describedby", "aria-controls"):
            for ref in node.attrs.get(attr, "").split():
                assert ref in known, (node.tag, attr, ref)
        if node.tag == "label" and "for" in node.attrs:
            assert node.attrs["for"] in known
        if node.tag == "a" and node.attrs.get("href", "").startswith("#"):
            assert node.attrs["href"][1:] in known


def test_every_control_has_a_name(page: Tree) -> None:
    labelled = {n.attrs["for"] for n in page.by_tag("label") if "for" in n.attrs}
    for control in page.by_tag("input", "select", "textarea"):
        if control.attrs.get("type") == "hidden":
            continue
        named = (
            control.attrs.get("id") in labelled
            or control.attrs.get("aria-label")
            or control.attrs.get("aria-labelledby")
            or any(a.tag == "label" for a in control.ancestors())
        )
        assert named, control.attrs
    for button in page.by_tag("button"):
        assert button.all_text().strip() or button.attrs.get("aria-label"), button.attrs


def test_buttons_say_their_type_and_links_go_somewhere(page: Tree) -> None:
    for button in page.by_tag("button"):
        assert button.attrs.get("type") in ("button", "submit"), button.attrs
    for link in page.by_tag("a"):
        assert link.attrs.get("href"), link.attrs


def test_names_are_given_only_where_aria_allows_them(page: Tree) -> None:
    """aria-label on a paragraph or a span without a role is ignored by screen readers
    (ARIA 1.2 prohibits it): what it says is never heard."""
    for node in page.nodes:
        if node.tag in UNNAMEABLE and "role" not in node.attrs:
            assert "aria-label" not in node.attrs, (node.tag, node.attrs)
            assert "aria-labelledby" not in node.attrs, (node.tag, node.attrs)


def test_definition_lists_give_each_term_before_its_value(page: Tree) -> None:
    """HTML allows a dl's div only a dt (or several) followed by a dd (or several); a
    screen reader reads them in that order, the figure after what it measures."""
    for dl in page.by_tag("dl"):
        for group in dl.children:
            assert group.tag in ("div", "dt", "dd"), group.tag
            if group.tag != "div":
                continue
            kinds = [c.tag for c in group.children]
            assert kinds, group.attrs
            assert set(kinds) <= {"dt", "dd"}, kinds
            assert kinds == sorted(kinds, key=lambda k: k == "dd"), (group.attrs, kinds)
            assert kinds[0] == "dt", (group.attrs, kinds)


def test_the_wallboard_announces_the_connection_an_actions_outcome_and_new_alerts() -> None:
    page = Tree(PAGES["wallboard"])
    ids = page.by_id()

    def live(node: Node) -> bool:
        chain = [node, *node.ancestors()]
        return any(
            n.attrs.get("aria-live") in ("polite", "assertive")
            or n.attrs.get("role") in ("status", "alert", "log")
            for n in chain
        )

    assert live(ids["conn"])
    assert live(ids["action-status"])
    # a pushed alert (a blackout, school closings) arrives while the room looks elsewhere;
    # the region must be in the page before the list is shown, so it holds the list
    assert live(ids["alerts"])
    assert live(ids["no-alerts"])
    region = next(
        n
        for n in [ids["alerts"], *ids["alerts"].ancestors()]
        if live(n) and n.attrs.get("aria-live")
    )
    assert "hidden" not in region.attrs
    # the figures that change every second are not live regions: they would never stop talking
    assert not live(ids["queues"])
    assert not live(ids["agents"])


def test_the_sign_in_fields_carry_the_servers_limits() -> None:
    """A browser stops typing where the server would refuse."""
    page = Tree(PAGES["sign-in"])
    fields = {n.attrs["name"]: n.attrs for n in page.by_tag("input")}
    assert fields["username"].get("maxlength") == "64"
    assert fields["password"].get("maxlength") == "1024"
    assert fields["username"].get("autocomplete") == "username"
    assert fields["password"].get("autocomplete") == "current-password"


def test_the_sign_in_refusal_is_announced() -> None:
    page = Tree(PAGES["sign-in refused"])
    [notice] = [n for n in page.nodes if n.attrs.get("role") == "alert"]
    assert "Wrong username or password." in notice.text


def test_the_state_words_ship_with_the_page_not_colour_alone() -> None:
    """Every element the stylesheet colours by state carries words too."""
    page = Tree(PAGES["wallboard"])
    for node in page.nodes:
        if "data-state" in node.attrs or "data-status" in node.attrs:
            assert node.all_text().strip(), node.attrs


def test_focus_is_always_visible() -> None:
    css = (STATIC_DIR / "app.css").read_text(encoding="utf-8")
    assert re.search(r":focus-visible\s*\{[^}]*outline:\s*\d+px solid", css)
    assert not re.search(r"outline:\s*(none|0)\b", css)
    # the skip link comes first and shows itself when focused
    page = Tree(PAGES["wallboard"])
    [body] = page.by_tag("body")
    assert body.children[0].tag == "a"
    assert body.children[0].attrs["href"] == "#queues-heading"
    assert re.search(r"\.skip:focus\s*\{[^}]*left:", css)


def test_the_wallboard_script_builds_its_figures_term_first() -> None:
    """The queue tiles' and the CCR counts' figures are built by app.js: the same order
    (no browser here; the functions that build them are read)."""
    js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    for name in ("function figure(", "const item = keyed(dl, state"):
        start = js.index(name)
        body = js[start : js.index("\n  }", start)]
        assert body.index('"dt"') < body.index('"dd"'), name
