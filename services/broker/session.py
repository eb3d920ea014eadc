"""Session state without I/O: the screen allocator and the refcounted realtime registry.

Kiwoom allows at most 200 screens at once, and at most 100 codes per SetRealReg call. The allocator
shares the screens out by purpose with reserves (orders and TR/condition requests keep theirs, so
realtime can never take the screens they need). The registry keeps, per (code, realtime type), the
set of clients that want it; the first one makes the broker register the code (opt "0" on an empty
screen, "1" when adding to one), the last one leaving (or dying) removes it. Methods return the
control actions to perform; the Qt side executes them (in order, in bounded chunks: `realwork.py`).
Every change costs what it touches: 20,000 codes are placed and removed in linear time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Hashable, Iterable, List, Mapping, Optional, Set, Tuple

from koabus.common.errors import Overloaded

MAX_SCREENS = 200
CODES_PER_SCREEN = 100
FIDS_PER_CALL = 100
#: purpose -> the group whose reserve it draws on (TRs and condition searches share one)
PURPOSE_GROUPS = {"order": "orders", "tr": "requests", "condition": "requests", "realtime": "realtime"}


class ScreenAllocator:
    """Hands out 4-digit screen numbers ('0001'-'9999'), at most `limit` in use at once.

    `reserved` maps a group (`PURPOSE_GROUPS`: "orders", "requests") to screens kept for it: a
    purpose may take a screen only if what stays free still covers every other group's unused
    reserve. With the defaults realtime gets at most 200 - 8 - 20 = 172 screens, and an order or a
    TR always finds one. Refusals are `Overloaded` naming what is free.

    Released numbers go to the back of the free list so a late event for a finished request cannot
    be mistaken for the next request on the same screen.
    """

    def __init__(self, limit: int = MAX_SCREENS, first: int = 1, last: int = 9999,
                 reserved: Optional[Mapping[str, int]] = None):
        self.limit = limit
        self.reserved: Dict[str, int] = {g: int(n) for g, n in (reserved or {}).items() if n > 0}
        self._free: List[int] = list(range(first, last + 1))
        self._head = 0
        self._used: Dict[str, str] = {}
        self._by_group: Dict[str, int] = {}

    def available(self, purpose: str) -> int:
        """Screens `purpose` may still take: the free ones less what other groups' reserves still need."""
        group = PURPOSE_GROUPS.get(purpose, purpose)
        owed = sum(max(0, n - self._by_group.get(g, 0)) for g, n in self.reserved.items() if g != group)
        return max(0, self.limit - len(self._used) - owed)

    def allocate(self, purpose: str) -> str:
        if self.available(purpose) <= 0:
            free = self.limit - len(self._used)
            why = (f"{free} free but kept for {', '.join(self._owed_to(purpose))}" if free
                   else "none free")
            raise Overloaded(
                f"no screen free for {purpose}: {len(self._used)} of {self.limit} screens in use, {why}",
                details={"purpose": purpose, "free_screens": 0, "unused_screens": free,
                         "in_use": len(self._used), "limit": self.limit, "reserved": dict(self.reserved)})
        while True:
            number = self._free[self._head]
            self._head = (self._head + 1) % len(self._free)
            screen = f"{number:04d}"
            if screen not in self._used:
                self._used[screen] = purpose
                group = PURPOSE_GROUPS.get(purpose, purpose)
                self._by_group[group] = self._by_group.get(group, 0) + 1
                return screen

    def release(self, screen: str) -> None:
        purpose = self._used.pop(screen, None)
        if purpose is not None:
            group = PURPOSE_GROUPS.get(purpose, purpose)
            self._by_group[group] -= 1

    def _owed_to(self, purpose: str) -> List[str]:
        group = PURPOSE_GROUPS.get(purpose, purpose)
        return [g for g, n in self.reserved.items() if g != group and self._by_group.get(g, 0) < n]

    def in_use(self) -> Dict[str, str]:
        return dict(self._used)

    def __len__(self) -> int:
        return len(self._used)


@dataclass(frozen=True)
class RealReg:
    """SetRealReg(screen, ';'.join(codes), ';'.join(fids), opt)."""

    screen: str
    codes: Tuple[str, ...]
    fids: Tuple[int, ...]
    opt: str


@dataclass(frozen=True)
class RealRemove:
    """SetRealRemove(screen, code)."""

    screen: str
    code: str


RealAction = object  # RealReg | RealRemove


class RealtimeRegistry:
    """Who wants which (code, realtime type), and on which screen each code is registered.

    `fids_for(type_name)` supplies the FIDs to register for a type. A code's registration carries
    the union of the FIDs of every type wanted for it; events of types nobody wants are filtered
    by `wanted(code, type)`.
    """

    def __init__(self, screens: ScreenAllocator, fids_for, codes_per_screen: int = CODES_PER_SCREEN):
        self.screens = screens
        self.fids_for = fids_for
        self.codes_per_screen = codes_per_screen
        self._holders: Dict[Tuple[str, str], Set[Hashable]] = {}
        self._code_fids: Dict[str, FrozenSet[int]] = {}
        self._screen_of: Dict[str, str] = {}
        self._codes_on: Dict[str, Dict[str, None]] = {}  # screen -> codes, in registration order
        self._types_of_code: Dict[str, Set[str]] = {}
        self._fresh: Set[str] = set()  # screens that have not had a SetRealReg yet: opt "0" first
        self._room: Dict[str, None] = {}  # realtime screens with room for another code

    # -- queries ---------------------------------------------------------------------------
    def wanted(self, code: str, type_name: str) -> bool:
        return (code, type_name) in self._holders

    def holders(self, code: str, type_name: str) -> FrozenSet[Hashable]:
        return frozenset(self._holders.get((code, type_name), ()))

    def subscriptions_of(self, client: Hashable) -> List[Tuple[str, str]]:
        return sorted(key for key, who in self._holders.items() if client in who)

    def held_by(self, client: Hashable, codes: Optional[Iterable[str]] = None) -> List[Tuple[str, str]]:
        """(code, type)s `client` holds: every one, or those of `codes` (costs what is asked, not the registry)."""
        if codes is None:
            return self.subscriptions_of(client)
        return [(code, t) for code in dict.fromkeys(codes) for t in self._types_of_code.get(code, ())
                if client in self._holders.get((code, t), ())]

    def registered_codes(self) -> Dict[str, str]:
        """code -> screen for every code registered with the control."""
        return dict(self._screen_of)

    def code_count(self) -> int:
        return len(self._screen_of)

    def screen_codes(self) -> Dict[str, List[str]]:
        return {s: list(c) for s, c in self._codes_on.items()}

    def screen_count(self) -> int:
        return len(self._codes_on)

    def __len__(self) -> int:
        return len(self._holders)

    # -- changes ---------------------------------------------------------------------------
    def subscribe(self, client: Hashable, codes: Iterable[str], types: Iterable[str],
                  extra_fids: Iterable[int] = ()) -> List[RealAction]:
        """Add `client` to each (code, type); return the SetRealReg calls needed."""
        types = list(dict.fromkeys(types))
        extra = frozenset(int(f) for f in extra_fids)
        wanted = frozenset().union(*(self.fids_for(t) for t in types)) | extra if types else extra
        codes = list(dict.fromkeys(codes))
        self._check_room([c for c in codes if c not in self._screen_of])
        holders, types_of, screen_of = self._holders, self._types_of_code, self._screen_of
        new_fids_by_code: Dict[str, FrozenSet[int]] = {}
        for code in codes:
            for type_name in types:
                holders.setdefault((code, type_name), set()).add(client)
            types_of.setdefault(code, set()).update(types)
            have = self._code_fids.get(code, frozenset())
            if code not in screen_of or not wanted <= have:
                new_fids_by_code[code] = have | wanted
        return self._register(new_fids_by_code)

    def unsubscribe(self, client: Hashable, codes: Iterable[str], types: Optional[Iterable[str]] = None
                    ) -> List[RealAction]:
        """Remove `client` from each (code, type) (every type when `types` is None)."""
        actions: List[RealAction] = []
        type_filter = None if types is None else set(types)
        for code in dict.fromkeys(codes):
            for type_name in list(self._types_of_code.get(code, ())):
                if type_filter is not None and type_name not in type_filter:
                    continue
                who = self._holders.get((code, type_name))
                if who is None or client not in who:
                    continue
                who.discard(client)
                if not who:
                    del self._holders[(code, type_name)]
                    self._types_of_code[code].discard(type_name)
            if not self._types_of_code.get(code):
                self._types_of_code.pop(code, None)
                actions += self._remove_code(code)
        return actions

    def release_client(self, client: Hashable) -> List[RealAction]:
        """The client left or its lease expired: drop everything it held."""
        codes = sorted({code for (code, _), who in self._holders.items() if client in who})
        return self.unsubscribe(client, codes, None)

    def restore_actions(self) -> List[RealAction]:
        """The registrations to replay after a re-login: per screen, opt '0' then '1' batches."""
        actions: List[RealAction] = []
        for screen, codes in self._codes_on.items():
            groups: Dict[FrozenSet[int], List[str]] = {}
            for code in codes:
                groups.setdefault(self._code_fids[code], []).append(code)
            first = True
            for fids, group in groups.items():
                actions.append(RealReg(screen, tuple(group), _fid_tuple(fids), "0" if first else "1"))
                first = False
        return actions

    # -- internals -------------------------------------------------------------------------
    def _check_room(self, new_codes: List[str]) -> None:
        """Refuse (before changing anything) codes that would need more screens than are free."""
        if not new_codes:
            return
        room = sum(self.codes_per_screen - len(self._codes_on[s]) for s in self._room)
        free_screens = self.screens.available("realtime")
        plain = [c for c in new_codes if c]
        needed = max(0, len(plain) - room)
        screens_needed = -(-needed // self.codes_per_screen) + (1 if "" in new_codes else 0)
        if screens_needed > free_screens:
            raise Overloaded(
                f"not enough screens for {len(new_codes)} more codes: {screens_needed} needed, "
                f"{free_screens} free for realtime (room for {room + free_screens * self.codes_per_screen} "
                "more codes); nothing was registered",
                details={"free_screens": free_screens, "needed": screens_needed, "room_codes": room,
                         "realtime_screens": len(self._codes_on)})

    def _register(self, fids_by_code: Dict[str, FrozenSet[int]]) -> List[RealAction]:
        actions: List[RealAction] = []
        by_screen: Dict[Tuple[str, FrozenSet[int]], List[str]] = {}
        for code, fids in fids_by_code.items():
            if len(fids) > FIDS_PER_CALL:
                fids = frozenset(sorted(fids)[:FIDS_PER_CALL])
            screen = self._screen_of.get(code) or self._place(code)
            self._code_fids[code] = fids
            by_screen.setdefault((screen, fids), []).append(code)
        for (screen, fids), codes in by_screen.items():
            opt = "0" if screen in self._fresh else "1"
            self._fresh.discard(screen)
            actions.append(RealReg(screen, tuple(codes), _fid_tuple(fids), opt))
        return actions

    def _place(self, code: str) -> str:
        # the market-wide stream (code '') is registered alone: '' cannot share a ';'-joined list
        if code:
            for screen in self._room:  # any screen with room: the first one looked at
                codes = self._codes_on[screen]
                codes[code] = None
                if len(codes) >= self.codes_per_screen:
                    del self._room[screen]
                self._screen_of[code] = screen
                return screen
        screen = self.screens.allocate("realtime")
        self._codes_on[screen] = {code: None}
        self._screen_of[code] = screen
        self._fresh.add(screen)
        if code and self.codes_per_screen > 1:
            self._room[screen] = None
        return screen

    def _remove_code(self, code: str) -> List[RealAction]:
        screen = self._screen_of.pop(code, None)
        self._code_fids.pop(code, None)
        if screen is None:
            return []
        codes = self._codes_on.get(screen, {})
        codes.pop(code, None)
        actions: List[RealAction] = [RealRemove(screen, code)]
        if not codes:
            del self._codes_on[screen]
            self._room.pop(screen, None)
            self.screens.release(screen)
        elif code:
            self._room[screen] = None
        return actions


def _fid_tuple(fids: FrozenSet[int]) -> Tuple[int, ...]:
    return tuple(sorted(fids))
