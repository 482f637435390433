"""What a guest's preferences ask of a room: its comfort target, the door-open scene and
the preparation before arrival. Pure code: preferences in, device parameters and task
requests out.

The mapping from preference words to device values lives here and nowhere else, in
both directions: `scene_commands` turns "firm" into the mattress's level 8, and
`firmness_word` turns a level the guest chose back into a word for an observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any, Final

from shared.messages import LightScene
from shared.preferences import CATALOGUE, Preference
from shared.topics import Device

__all__ = [
    "CURTAIN_POSITION",
    "FIRMNESS_LEVEL",
    "Offer",
    "PrepItem",
    "comfort_target",
    "confirmation_keys",
    "curtains_word",
    "firmness_word",
    "key_label",
    "plain",
    "prep_items",
    "scene_commands",
    "timed_offers",
]

# The mattress's 1–10 scale in words: 1–3 soft, 4–7 medium, 8–10 firm (the catalogue's
# note); a word is set as the middle of its range.
FIRMNESS_LEVEL: Final = {"soft": 2, "medium": 5, "firm": 8}
CURTAIN_POSITION: Final = {"closed": 0, "half": 50, "open": 100}
DEFAULT_SCENE: Final = LightScene.WELCOME


def firmness_word(level: int) -> str:
    if level <= 3:
        return "soft"
    return "medium" if level <= 7 else "firm"


def curtains_word(position: int) -> str:
    if position <= 20:
        return "closed"
    return "half" if position < 80 else "open"


def comfort_target(preferences: Mapping[str, Preference], default_c: float) -> float:
    """The temperature the room should have at the door: the guest's, else the house's."""
    pref = preferences.get("room.temperature_c")
    if pref is not None and isinstance(pref.value, int | float):
        return float(pref.value)
    return default_c


def scene_commands(preferences: Mapping[str, Preference]) -> list[tuple[Device, dict[str, Any]]]:
    """Device parameters for the first door opening: lights, curtains, mattress.

    Lights always come on (the guest's scene, else the welcome scene); curtains and
    mattress move only when the guest has a preference, so a room without a profile
    stays as housekeeping left it.
    """
    scene = DEFAULT_SCENE.value
    light = preferences.get("room.light_scene")
    if light is not None and isinstance(light.value, str):
        scene = light.value
    commands: list[tuple[Device, dict[str, Any]]] = [
        (Device.LIGHTS, {"on": True, "scene": scene}),
    ]
    curtains = preferences.get("room.curtains")
    if curtains is not None and curtains.value in CURTAIN_POSITION:
        commands.append((Device.CURTAINS, {"position": CURTAIN_POSITION[str(curtains.value)]}))
    firmness = preferences.get("bed.mattress_firmness")
    if firmness is not None and firmness.value in FIRMNESS_LEVEL:
        commands.append((Device.MATTRESS, {"firmness": FIRMNESS_LEVEL[str(firmness.value)]}))
    return commands


def confirmation_keys(preferences: Mapping[str, Preference]) -> list[str]:
    """Keys to ask the guest to confirm: those resting on a stay over six months ago."""
    return sorted(key for key, pref in preferences.items() if pref.dormant)


@dataclass(frozen=True, slots=True)
class PrepItem:
    """One thing to do in the room before the guest arrives."""

    key: str  # the preference it comes from
    kind: str  # the task kind in `edge.dispatch.catalogue`
    note: str  # what to do, for the handset


# Allergies that change how the room is prepared, and what housekeeping does about them.
_ALLERGY_PREP: Final = {
    "synthetic_bedding": "make the bed with cotton-only bedding",
    "feathers": "no down or feather pillows and duvet: use synthetic fill",
    "dust_mites": "put anti-allergy covers on mattress and pillows",
    "pollen": "remove cut flowers and flowering plants",
    "fragrance": "unscented products only; no room spray",
    "latex": "no latex pillows or mattress topper",
}


def plain(value: object) -> str:
    """A preference value in words for staff: underscores as spaces, tags joined."""
    if isinstance(value, tuple):
        return ", ".join(str(v).replace("_", " ") for v in value)
    return str(value).replace("_", " ")


def prep_items(preferences: Mapping[str, Preference]) -> list[PrepItem]:
    """What housekeeping prepares before the ETA, one item per preference that asks.

    Values are the guest's effective preferences; the notes name them plainly because
    they go to the property's own staff, on the property's own network.
    """
    items: list[PrepItem] = []
    pref = preferences.get("bed.pillow")
    if pref is not None:
        items.append(
            PrepItem("bed.pillow", "extra_pillow", f"{plain(pref.value)} pillows on the bed")
        )
    pref = preferences.get("room.extra_hangers")
    if pref is not None and isinstance(pref.value, int) and pref.value > 0:
        items.append(PrepItem("room.extra_hangers", "amenities", f"{pref.value} extra hangers"))
    for key, what in (("room.plant", "a plant on the windowsill: "), ("room.magazine", "")):
        pref = preferences.get(key)
        if pref is not None and pref.value != "none":
            items.append(PrepItem(key, "amenities", f"{what}{plain(pref.value)}"))
    pref = preferences.get("bath.products")
    if pref is not None and isinstance(pref.value, tuple) and pref.value:
        items.append(PrepItem("bath.products", "amenities", f"bath: {plain(pref.value)}"))
    pref = preferences.get("health.allergies")
    if pref is not None and isinstance(pref.value, tuple):
        for tag in pref.value:
            if tag in _ALLERGY_PREP:
                items.append(PrepItem("health.allergies", "amenities", _ALLERGY_PREP[tag]))
    return items


@dataclass(frozen=True, slots=True)
class Offer:
    """Something the guest usually has at a time of day: offered before they call."""

    key: str
    value: str
    at: time


# Timed preferences the service offers, and the task kind that delivers each.
_OFFERED: Final = {"dining.evening_drink": "drink", "dining.afternoon_tea": "drink"}


def timed_offers(preferences: Mapping[str, Preference]) -> list[tuple[Offer, str]]:
    """(offer, task kind) for each timed preference with a usual time and a real value."""
    offers = []
    for key, kind in _OFFERED.items():
        pref = preferences.get(key)
        if pref is None or pref.time_of_day is None or pref.value == "none":
            continue
        offers.append((Offer(key, str(pref.value), pref.time_of_day), kind))
    return offers


def key_label(key: str) -> str:
    """The catalogue's label of a key, for staff."""
    spec = CATALOGUE.get(key)
    return spec.label if spec is not None else key
