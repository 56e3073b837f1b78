"""Safe parsing of a B2MML business object document (BOD) and its envelope; XSD value syntax (no I/O).

A BOD's root is verb + noun (`SyncEquipment`), its children `ApplicationArea` and `DataArea`; the
data area holds the verb element and then the nouns. Elements are matched by local name in any of
the B2MML namespaces, so one reader takes V0401, V0600 and V07 alike; elements of other namespaces
(vendor extensions) and unknown names are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from openmes.core.errors import DomainError

V0701_NAMESPACE = "http://www.mesa.org/xml/B2MML"
NAMESPACES: dict[str, str] = {
    "http://www.wbf.org/xml/B2MML-V0401": "V0401",
    "http://www.wbf.org/xml/b2mml-v0400": "V0400",
    "http://www.mesa.org/xml/B2MML-V0500": "V0500",
    "http://www.mesa.org/xml/B2MML-V0600": "V0600",
    V0701_NAMESPACE: "V07",
}
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
VERBS = ("Acknowledge", "Process", "Respond", "Cancel", "Change", "Show", "Sync", "Get")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class MalformedDocument(DomainError):
    """The body is not a well-formed, safe XML document; nothing was read."""

    status = 400
    slug = "bad-request"
    title = "Malformed XML"


class UnsupportedDocument(DomainError):
    """A well-formed document that OpenMES does not take (yet); the detail says which and why."""

    status = 422
    slug = "validation-error"
    title = "B2MML document not supported"


class Node:
    """An element with its path (`/SyncEquipment/DataArea/Equipment[2]`); children found by local name."""

    __slots__ = ("element", "path")

    def __init__(self, element: etree._Element, path: str) -> None:
        self.element = element
        self.path = path

    @property
    def name(self) -> str:
        return etree.QName(self.element).localname

    def kids(self, *names: str) -> list[Node]:
        """The B2MML children named any of `names`, in document order."""
        found: list[Node] = []
        seen: dict[str, int] = {}
        for child in self.element:
            if not isinstance(child.tag, str):
                continue
            qname = etree.QName(child)
            if qname.namespace is not None and qname.namespace not in NAMESPACES:
                continue
            seen[qname.localname] = seen.get(qname.localname, 0) + 1
            if qname.localname in names:
                found.append(Node(child, f"{self.path}/{qname.localname}[{seen[qname.localname]}]"))
        return found

    def kid(self, *names: str) -> Node | None:
        found = self.kids(*names)
        return found[0] if found else None

    @property
    def value(self) -> str | None:
        """The element's own text, whitespace collapsed; None when empty or `xsi:nil`."""
        if self.element.get(XSI_NIL) in ("true", "1"):
            return None
        text = " ".join("".join(str(part) for part in self.element.itertext()).split())
        return text or None

    def text(self, *names: str) -> str | None:
        found = self.kid(*names)
        return found.value if found is not None else None

    def texts(self, *names: str) -> list[str]:
        return [value for node in self.kids(*names) if (value := node.value) is not None]


@dataclass(frozen=True)
class Sender:
    logical_id: str | None = None
    component_id: str | None = None
    task_id: str | None = None
    reference_id: str | None = None
    confirmation_code: str | None = None
    authorization_id: str | None = None


@dataclass(frozen=True)
class ApplicationArea:
    """What the sender said about the message, echoed in replies as `OriginalApplicationArea`."""

    sender: Sender = field(default_factory=Sender)
    creation: str | None = None
    bod_id: str | None = None


@dataclass(frozen=True)
class ActionExpression:
    code: str
    expression: str


@dataclass(frozen=True)
class Envelope:
    root: str
    version: str
    verb: str
    noun: str
    application_area: ApplicationArea
    verb_node: Node
    nouns: tuple[Node, ...]

    @property
    def actions(self) -> tuple[ActionExpression, ...]:
        found = []
        for criteria in self.verb_node.kids("ActionCriteria"):
            for expression in criteria.kids("ActionExpression"):
                found.append(
                    ActionExpression((expression.element.get("actionCode") or "").strip(), expression.value or "")
                )
        return tuple(found)

    @property
    def sender_name(self) -> str:
        return self.application_area.sender.logical_id or "an unnamed sender"


def _parser() -> etree.XMLParser:
    """No DTD, no entity expansion, no network, no huge trees: XXE and billion laughs cannot happen."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_NO_DTD = (
    "The document declares a DTD (<!DOCTYPE ...>). B2MML documents never need one, and entity declarations "
    "are refused so that no file or network resource is read and no entity expands. Send the document "
    "without the DOCTYPE."
)


def parse_xml(data: bytes) -> etree._Element:
    """The root element of `data`; refuses malformed XML and any DTD (so no entity is ever expanded)."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MalformedDocument(
            f"The document has {len(data)} bytes; at most {MAX_DOCUMENT_BYTES} are taken. Split it into "
            "several documents."
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        if _DOCTYPE.search(data):
            raise MalformedDocument(_NO_DTD) from None
        raise MalformedDocument(
            f"The body is not well-formed XML (line {exc.lineno}: {exc.msg}). Nothing was stored."
        ) from None
    docinfo = root.getroottree().docinfo
    if getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None or _DOCTYPE.search(data):
        raise MalformedDocument(_NO_DTD)
    return root


def _split_root(local: str) -> tuple[str, str]:
    for verb in VERBS:
        if local.startswith(verb) and len(local) > len(verb):
            return verb, local[len(verb) :]
    raise UnsupportedDocument(
        f"The root element {local} is not a B2MML verb and noun such as SyncEquipment or ProcessMaterialLot "
        f"(verbs: {', '.join(sorted(VERBS))})."
    )


def _application_area(node: Node | None) -> ApplicationArea:
    if node is None:
        return ApplicationArea()
    sender = node.kid("Sender")
    return ApplicationArea(
        sender=Sender(
            logical_id=sender.text("LogicalID"),
            component_id=sender.text("ComponentID"),
            task_id=sender.text("TaskID"),
            reference_id=sender.text("ReferenceID"),
            confirmation_code=sender.text("ConfirmationCode"),
            authorization_id=sender.text("AuthorizationID"),
        )
        if sender is not None
        else Sender(),
        creation=node.text("CreationDateTime"),
        bod_id=node.text("BODID"),
    )


def read_envelope(data: bytes) -> Envelope:
    """Parse `data` and split it into application area, verb and nouns; refuses what is not a B2MML BOD."""
    root = parse_xml(data)
    qname = etree.QName(root)
    if qname.namespace is None:
        raise UnsupportedDocument(
            f"The root element {qname.localname} has no namespace. Declare the B2MML namespace of your "
            f'version, e.g. xmlns="{V0701_NAMESPACE}" (V07), "http://www.mesa.org/xml/B2MML-V0600" or '
            '"http://www.wbf.org/xml/B2MML-V0401".'
        )
    version = NAMESPACES.get(qname.namespace)
    if version is None:
        raise UnsupportedDocument(
            f"The namespace {qname.namespace} is not a B2MML namespace OpenMES reads; use V0401, V0600 or V07 "
            f"({V0701_NAMESPACE})."
        )
    if qname.localname == "ConfirmBOD":
        raise UnsupportedDocument(
            "ConfirmBOD is a reply; OpenMES takes requests and publications (Sync, Process, ...)."
        )
    verb, noun = _split_root(qname.localname)
    top = Node(root, f"/{qname.localname}")
    found = top.kid("DataArea")
    if found is None:
        raise MalformedDocument(
            f"{qname.localname} has no DataArea; a B2MML document carries its verb and nouns there."
        )
    data_area = Node(found.element, f"/{qname.localname}/DataArea")
    verb_node = data_area.kid(verb)
    if verb_node is None:
        raise MalformedDocument(f"The DataArea of {qname.localname} has no {verb} element; it comes before the nouns.")
    nouns = tuple(data_area.kids(noun))
    return Envelope(
        root=qname.localname,
        version=version,
        verb=verb,
        noun=noun,
        application_area=_application_area(top.kid("ApplicationArea")),
        verb_node=verb_node,
        nouns=nouns,
    )


# --- XSD value syntax ------------------------------------------------------------------------------------

_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def decimal_value(text: str) -> Decimal:
    """An xsd:decimal: digits with a dot; a comma is refused rather than guessed."""
    cleaned = text.strip()
    if not _DECIMAL.match(cleaned):
        if "," in cleaned:
            raise ValueError(f"{text!r} is not a decimal: write decimals with a dot, e.g. 12.5")
        raise ValueError(f"{text!r} is not a decimal number")
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None


def datetime_value(text: str) -> datetime:
    """An xsd:dateTime with a zone (Z or an offset), any number of fraction digits."""
    cleaned = text.strip()
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", cleaned)
    if match is None:
        raise ValueError(f"{text!r} is not a date and time such as 2026-03-02T06:00:00Z")
    head, fraction, zone = match.groups()
    if zone is None:
        raise ValueError(f"{text!r} has no time zone; add Z or an offset such as +01:00")
    micro = (fraction or "")[:7].ljust(7, "0") if fraction else ""
    try:
        return datetime.fromisoformat(f"{head}{micro}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date and time") from None


def date_value(text: str) -> date:
    """An xsd:date (a zone, if any, is dropped) or the date of an xsd:dateTime."""
    cleaned = text.strip()
    try:
        return date.fromisoformat(cleaned[:10])
    except ValueError:
        raise ValueError(f"{text!r} is not a date such as 2026-12-31") from None


def boolean_value(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise ValueError(f"{text!r} is not a boolean (true or false)")


def duration_minutes(text: str) -> Decimal:
    """An xsd:duration such as PT15M or PT1H30M in minutes (years and months are refused: not exact)."""
    match = _DURATION.match(text.strip())
    if match is None or text.strip() in ("P", "PT"):
        raise ValueError(f"{text!r} is not a duration such as PT15M or P0DT1H30M (years and months are not exact)")
    parts = {name: Decimal(value) for name, value in match.groupdict().items() if value and name != "sign"}
    minutes = (
        parts.get("days", Decimal(0)) * 1440
        + parts.get("hours", Decimal(0)) * 60
        + parts.get("minutes", Decimal(0))
        + parts.get("seconds", Decimal(0)) / 60
    )
    if match.group("sign"):
        raise ValueError(f"{text!r} is negative; a duration here is zero or more")
    return minutes
