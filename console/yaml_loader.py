"""PyYAML's SafeLoader made safe for hostile files (site files, kubeconfigs).

Every way such a file can fail comes out as a yaml.MarkedYAMLError, which has
the line (problem_mark) the caller's `file:line:` message needs:
- nesting deeper than a limit is refused while composing (NestingTooDeep),
  before PyYAML's recursive composer and constructor run out of stack
  (a RecursionError with no line);
- merge keys (`<<`) that fan out are refused once a mapping holds more than
  MAX_MERGED_KEYS keys, before they grow exponentially;
- a value a constructor cannot build (`!!timestamp 2026-13-45` raises
  ValueError, a bad `!!binary` binascii.Error) becomes a ConstructorError
  at that value's line.
Unknown and Python tags are refused by SafeLoader itself (ConstructorError).
"""
from __future__ import annotations

import functools
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node

MAX_MERGED_KEYS = 10_000


class NestingTooDeep(yaml.composer.ComposerError):
    """A mapping or list nested deeper than the loader's limit."""


@functools.cache
def hardened_loader(max_depth: int) -> type[yaml.SafeLoader]:
    """A SafeLoader subclass (see the module docstring) refusing nesting
    deeper than `max_depth` mappings/lists."""

    class HardenedLoader(yaml.SafeLoader):
        _depth = 0

        def compose_node(self, parent: Node | None, index: Any) -> Node | None:
            if not self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent):
                return super().compose_node(parent, index)
            self._depth += 1
            try:
                if self._depth > max_depth:
                    event = self.peek_event()
                    kind = "mapping" if isinstance(event, yaml.MappingStartEvent) else "list"
                    raise NestingTooDeep(None, None, f"a {kind} nested deeper than {max_depth} levels",
                                         event.start_mark)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def flatten_mapping(self, node: MappingNode) -> None:
            # PyYAML copies merged keys into each mapping: merges that fan out (a
            # `<<` "billion laughs") would grow without bound; refused on the way
            super().flatten_mapping(node)
            if len(node.value) > MAX_MERGED_KEYS:
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_MERGED_KEYS} keys in one mapping after its merge "
                                f"keys (`<<`) are expanded", node.start_mark)

        def construct_object(self, node: Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except (ValueError, TypeError, OverflowError) as e:  # binascii.Error is a ValueError
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                raise yaml.constructor.ConstructorError(
                    None, None, f"cannot read this {tag} value ({e})", node.start_mark) from None

    return HardenedLoader
