"""Fields and subfields, with pymarc 5.x's interface and behaviour."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence

logger = logging.getLogger("marcpipe")

SUBFIELD_INDICATOR = "\x1f"
END_OF_FIELD = "\x1e"

__all__ = ["Subfield", "Indicators", "Field", "RawField", "SUBFIELD_INDICATOR", "END_OF_FIELD"]


class Subfield(NamedTuple):
    """One subfield: ``code`` and ``value``."""

    code: str
    value: str


class Indicators(NamedTuple):
    """The two indicators of a data field."""

    first: str
    second: str


class Field:
    """A MARC field: a control field (``data``) or a data field (indicators + subfields).

    ``Field(tag="245", indicators=Indicators("0", "1"), subfields=[Subfield("a", "...")])``
    or ``Field(tag="001", data="...")``. A tag is a control field when it is
    all digits and below "010" (pymarc's rule).
    """

    __slots__ = ("tag", "data", "_indicators", "subfields", "control_field")

    def __init__(
        self,
        tag: str,
        indicators: Optional[Sequence[str]] = None,
        subfields: Optional[List[Subfield]] = None,
        data: Optional[str] = None,
    ) -> None:
        try:
            self.tag = f"{int(tag):03}"
        except ValueError:
            self.tag = f"{tag}"
        if subfields and isinstance(subfields[0], str):
            raise ValueError(
                "The subfield input no longer accepts strings, and should use Subfield. "
                "Please consult the documentation for details."
            )
        self.subfields: List[Subfield] = []
        self._indicators: Optional[Indicators] = None
        self.data: Optional[str] = None
        self.control_field = False
        if self.tag < "010" and self.tag.isdigit():
            self.control_field = True
            self.data = data
        else:
            self.subfields = subfields or []
            if not indicators:
                self.indicators = Indicators(" ", " ")
            else:
                self.indicators = indicators  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        """Pickle/copy support, compact: tag, indicators and the subfields as
        one flat tuple (code, value, code, value, ...) - no dict per field."""
        subs: Any = self.subfields
        if all(isinstance(s, tuple) and len(s) == 2 for s in subs):
            subs = tuple(x for s in subs for x in s)
        ind = self._indicators
        return (
            _restore_field,
            (type(self), self.tag, None if ind is None else tuple(ind), subs, self.data,
             self.control_field),
        )

    @classmethod
    def _fast(cls, tag, indicators, subfields, data, raw):
        """Built by the C reader: no normalisation, no checks."""
        f = object.__new__(RawField if raw else cls)
        f.tag = tag
        f.data = data
        if subfields is None:
            f.subfields = []
            f._indicators = None
            f.control_field = True
        else:
            f.subfields = subfields
            f._indicators = indicators
            f.control_field = False
        return f

    @property
    def indicators(self) -> Optional[Indicators]:
        return self._indicators

    @indicators.setter
    def indicators(self, value: Optional[Sequence[str]]) -> None:
        if value and isinstance(value, (list, tuple)) and len(value) != 2:
            raise ValueError(
                "The indicators input no longer accepts an iterable of arbitrary length. "
                "Use the Indicators() named tuple instead."
            )
        if value is not None:
            self._indicators = value if isinstance(value, Indicators) else Indicators(*value)

    @classmethod
    def convert_legacy_subfields(cls, subfields: List[str]) -> List[Subfield]:
        """['a', 'x', 'b', 'y'] -> [Subfield('a', 'x'), Subfield('b', 'y')]."""
        it = iter(subfields)
        return [Subfield._make(t) for t in zip(it, it)]

    def __iter__(self) -> Iterator[Subfield]:
        if self.control_field:
            return iter(())
        return iter(self.subfields)

    def __str__(self) -> str:
        """MARCMaker text: ``=245  10$aTitle``; blanks shown as backslashes."""
        if self.control_field:
            data = self.data.replace(" ", "\\") if self.data else ""
            return f"={self.tag}  {data}"
        ind = "".join("\\" if i in (" ", "\\") else f"{i}" for i in self.indicators or ())
        subs = "".join(f"${s.code}{s.value}" for s in self.subfields)
        return f"={self.tag}  {ind}{subs}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def get(self, code: str, default: Any = None) -> Any:
        """Value of the first subfield with that code, or default."""
        try:
            return self[code]
        except KeyError:
            return default

    def __getitem__(self, code: str) -> Any:
        if self.control_field:
            raise KeyError(code)
        for s in self.subfields:
            if s.code == code:
                return s.value
        raise KeyError(code)

    def __contains__(self, code: str) -> bool:
        if self.control_field:
            return False
        for s in self.subfields:
            if s.code == code:
                return True
        return False

    def __setitem__(self, code: str, value: str) -> None:
        if self.control_field:
            raise KeyError("field is a control field")
        n = [s.code for s in self.subfields].count(code)
        if n > 1:
            raise KeyError(f"more than one code '{code}'")
        if n == 0:
            raise KeyError(f"no code '{code}'")
        for i, s in enumerate(self.subfields):
            if s.code == code:
                self.subfields[i] = Subfield(code=s.code, value=value)
                break

    def value(self) -> str:
        """Subfield values, each stripped, joined by spaces (data for control fields)."""
        if self.control_field:
            return self.data or ""
        return " ".join(s.value.strip() for s in self.subfields)

    def get_subfields(self, *codes: str) -> List[Any]:
        """Values of the subfields with any of the codes, in field order."""
        if self.control_field:
            return []
        return [s.value for s in self.subfields if s.code in codes]

    def add_subfield(self, code: str, value: str, pos: Optional[int] = None) -> None:
        if self.control_field:
            return None
        sf = Subfield(code=code, value=value)
        if pos is None or pos > len(self.subfields):
            self.subfields.append(sf)
        else:
            self.subfields.insert(pos, sf)
        return None

    def delete_subfield(self, code: str) -> Optional[str]:
        if self.control_field or code not in self:
            return None
        idx = [s.code for s in self.subfields].index(code)
        return self.subfields.pop(idx).value

    def subfields_as_dict(self) -> dict:
        if self.control_field:
            return {}
        d: defaultdict = defaultdict(list)
        for s in self.subfields:
            d[s.code].append(s.value)
        return dict(d)

    def is_control_field(self) -> bool:
        return self.control_field

    def linkage_occurrence_num(self) -> Optional[str]:
        ocn = self.get("6", "")
        return ocn.split("-")[1].split("/")[0] if ocn else None

    def as_marc(self, encoding: str) -> bytes:
        if self.control_field:
            return f"{self.data}{END_OF_FIELD}".encode(encoding)
        subs = "".join(f"{SUBFIELD_INDICATOR}{s.code}{s.value}" for s in self.subfields)
        return f"{self.indicator1}{self.indicator2}{subs}{END_OF_FIELD}".encode(encoding)

    as_marc21 = as_marc

    def format_field(self) -> str:
        """Like value(), but subject subdivisions (v x y z of 6XX) get ' -- ' and $6 is dropped."""
        if self.control_field:
            return self.data or ""
        out = ""
        subject = self.is_subject_field()
        for s in self.subfields:
            if s.code == "6":
                continue
            if subject and s.code in ("v", "x", "y", "z"):
                out += f" -- {s.value}"
            else:
                out += f" {s.value}"
        return out.strip()

    def is_subject_field(self) -> bool:
        return self.tag.startswith("6")

    @property
    def indicator1(self) -> str:
        return self._indicators.first if self._indicators else ""

    @indicator1.setter
    def indicator1(self, value: str) -> None:
        self._indicators = self._indicators._replace(first=value)  # type: ignore[union-attr]

    @property
    def indicator2(self) -> str:
        return self._indicators.second if self._indicators else ""

    @indicator2.setter
    def indicator2(self, value: str) -> None:
        self._indicators = self._indicators._replace(second=value)  # type: ignore[union-attr]


def _restore_field(cls, tag, indicators, subfields, data, control_field):
    """Unpickle / copy: the field :meth:`Field.__reduce__` described, as it was
    (no normalisation of the tag, as for fields built by the reader)."""
    f = object.__new__(cls)
    f.tag = tag
    f.data = data
    f.control_field = control_field
    f._indicators = None if indicators is None else Indicators(*indicators)
    if isinstance(subfields, tuple):
        it = iter(subfields)
        f.subfields = [Subfield(c, v) for c, v in zip(it, it)]
    else:
        f.subfields = subfields
    return f


class RawField(Field):
    """A field whose data and subfield values are undecoded bytes (to_unicode=False)."""

    __slots__ = ()

    def as_marc(self, encoding: Optional[str] = None) -> bytes:  # type: ignore[override]
        if encoding is not None:
            logger.warning("Attempt to force a RawField into encoding %s", encoding)
        if self.control_field:
            return self.data + END_OF_FIELD.encode("ascii")  # type: ignore[operator]
        out = f"{self.indicator1}{self.indicator2}".encode("ascii")
        for s in self.subfields:
            out += SUBFIELD_INDICATOR.encode("ascii") + s.code.encode("ascii") + s.value
        return out + END_OF_FIELD.encode("ascii")

    as_marc21 = as_marc  # type: ignore[assignment]
