"""The record leader, with pymarc 5.x's interface (positions, slices, names)."""

from __future__ import annotations

from typing import Union

from .exceptions import BadLeaderValue, RecordLeaderInvalid

LEADER_LEN = 24

# name -> (start, width), MARC 21 bibliographic leader positions.
_POSITIONS = {
    "record_length": (0, 5),
    "record_status": (5, 1),
    "type_of_record": (6, 1),
    "bibliographic_level": (7, 1),
    "type_of_control": (8, 1),
    "coding_scheme": (9, 1),
    "indicator_count": (10, 1),
    "subfield_code_count": (11, 1),
    "base_address": (12, 5),
    "encoding_level": (17, 1),
    "cataloging_form": (18, 1),
    "multipart_ressource": (19, 1),
    "length_of_field_length": (20, 1),
    "starting_character_position_length": (21, 1),
    "implementation_defined_length": (22, 1),
}


def _prop(name: str, start: int, width: int) -> property:
    def get(self: "Leader") -> str:
        return self.leader[start : start + width]

    def set_(self: "Leader", value: str) -> None:
        if len(value) != width:
            raise BadLeaderValue(f"{name} is a {width} char field, got {value}")
        self._replace_values(start, value)

    return property(get, set_, doc=f"{name} ({start:02d}{'-%02d' % (start + width - 1) if width > 1 else ''})")


class Leader:
    """Mutable 24-character leader.

    ``leader[5]``, ``leader[0:5]``, ``leader.record_status``,
    ``leader["record_status"]`` read; the same forms assign. ``str(leader)``
    is the 24 characters.
    """

    __slots__ = ("leader",)

    def __init__(self, leader: str) -> None:
        if len(leader) != LEADER_LEN:
            raise RecordLeaderInvalid
        self.leader = leader

    def __getitem__(self, item: Union[int, slice, str]) -> str:
        if isinstance(item, (int, slice)):
            return self.leader[item]
        return getattr(self, item)

    def __setitem__(self, item: Union[int, slice, str], value: str) -> None:
        if isinstance(item, slice):
            self._replace_values(item.start or 0, value)
        elif isinstance(item, int):
            self._replace_values(item, value)
        else:
            setattr(self, item, value)

    def __str__(self) -> str:
        return self.leader

    def __reduce__(self):
        """Pickle/copy support: the 24 characters."""
        return (type(self), (self.leader,))

    def __repr__(self) -> str:
        return f"Leader({self.leader!r})"

    def _replace_values(self, position: int, value: str) -> None:
        if position < 0:
            raise IndexError("Position must be positive")
        after = position + len(value)
        if after > LEADER_LEN:
            raise BadLeaderValue(f"{value} is too long to be inserted at {position}")
        self.leader = self.leader[:position] + value + self.leader[after:]

    for _name, (_start, _width) in _POSITIONS.items():
        locals()[_name] = _prop(_name, _start, _width)
    del _name, _start, _width
