"""The kinds of task a property knows: skill, priority, where to fetch things, checklist.

A request names a kind ("extra_pillow"); the catalogue fills in what the dispatcher and
the handset need, including the step-by-step checklist that guides new staff (seed
003). A request may also name a bare skill (kind "request") when no kind fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.layout import ServicePointKind

from .model import Priority, Skill

__all__ = ["CATALOGUE", "GENERIC_KIND", "TaskKind", "supporting_point"]

GENERIC_KIND = "request"  # a request with only a skill and a note


@dataclass(frozen=True, slots=True)
class TaskKind:
    name: str
    skill: Skill
    title: str
    service_s: float  # expected time in the room, for planning
    priority: Priority = Priority.STANDARD
    speciality: str | None = None
    pickup: ServicePointKind | None = None
    respect_dnd: bool = False  # work nobody in the room asked for waits out do-not-disturb
    checklist: tuple[str, ...] = ()


_LINEN = ServicePointKind.LINEN
_KITCHEN = ServicePointKind.KITCHEN
_HK = Skill.HOUSEKEEPING
_FB = Skill.FOOD_BEVERAGE
_ENG = Skill.ENGINEERING

CATALOGUE: dict[str, TaskKind] = {
    k.name: k
    for k in (
        TaskKind(
            "make_up_room",
            _HK,
            "Make up the room",
            1200,
            pickup=_LINEN,
            respect_dnd=True,
            checklist=(
                "Take the cart from the floor's linen room",
                "Knock and announce; check the room is empty or the guest agrees",
                "Strip and make the beds, clean the bathroom, restock amenities",
                "Turn the make-up-room light off and tick done",
            ),
        ),
        TaskKind(
            "extra_pillow",
            _HK,
            "Bring pillows",
            180,
            pickup=_LINEN,
            checklist=(
                "Fetch the pillows from the linen room (latex or down: see the preference tip)",
                "Knock, greet the guest by name",
                "Place the pillows on the bed; ask whether anything else is needed",
                "Tick 'bedding preference met'",
            ),
        ),
        TaskKind(
            "amenities",
            _HK,
            "Bring amenities",
            180,
            pickup=_LINEN,
            checklist=(
                "Fetch the items from the linen room (brand per the guest's preference)",
                "Knock, greet the guest, hand over or place in the bathroom",
                "Tick done",
            ),
        ),
        TaskKind(
            "iron_suit",
            _HK,
            "Iron a garment",
            900,
            speciality="ironing",
            checklist=(
                "Collect the garment and note the guest's wishes (creases, starch)",
                "Iron it in the floor's linen room",
                "Return it on a hanger; tick done",
            ),
        ),
        TaskKind(
            "drink",
            _FB,
            "Deliver a drink",
            120,
            pickup=_KITCHEN,
            checklist=(
                "Collect the order from the kitchen pass (check the dietary note)",
                "Knock, greet, serve",
                "Tick done",
            ),
        ),
        TaskKind(
            "room_service",
            _FB,
            "Deliver in-room dining",
            300,
            pickup=_KITCHEN,
            checklist=(
                "Collect the tray from the kitchen pass; check it against the order notes",
                "Knock, greet, set the table",
                "Present the bill or charge to the room; tick done",
            ),
        ),
        TaskKind(
            "tv_help",
            _ENG,
            "Help with the TV",
            300,
            checklist=(
                "Knock, greet, ask what does not work",
                "Check input, remote batteries and the casting setting",
                "Tick done, or raise an engineering task if a device is broken",
            ),
        ),
        TaskKind(
            "luggage",
            Skill.FRONT_DESK,
            "Carry luggage",
            300,
            checklist=("Take a luggage cart", "Collect or deliver the bags", "Tick done"),
        ),
        TaskKind(
            "medical",
            Skill.FIRST_AID,
            "Guest unwell",
            600,
            priority=Priority.URGENT,
            pickup=ServicePointKind.CLINIC,
            checklist=(
                "Take the first-aid kit from the clinic",
                "Go to the room; assess; call emergency services if in doubt",
                "Stay until the guest is cared for; record what was given",
            ),
        ),
        TaskKind(
            "preparation",
            _HK,
            "Prepare the room for an arriving guest",
            300,
            pickup=_LINEN,
            respect_dnd=True,
            checklist=(
                "Fetch the items from the linen room (see the preference tips)",
                "Place them as noted (plant on the windowsill, bath salts in the bathroom)",
                "Tick done",
            ),
        ),
        TaskKind(
            "hvac_fault",
            _ENG,
            "Air conditioning not reaching its setpoint",
            900,
            speciality="technician",
            checklist=(
                "Check the filter, the valve and the fan coil",
                "Fix or raise a work order",
                "Tick done",
            ),
        ),
        TaskKind(
            "door_ajar",
            _ENG,
            "Door left open",
            300,
            checklist=("Go to the room", "Check the door closer and the lock", "Tick done"),
        ),
        TaskKind(
            "device_offline",
            _ENG,
            "Room device offline",
            900,
            speciality="technician",
            checklist=("Check power and network of the device", "Restart or replace", "Tick done"),
        ),
    )
}


# Who else is told when an urgent task opens or escalates: the first-aid kit and clinic
# for a medical case, the department's own point otherwise.
_SUPPORT = {
    Skill.FIRST_AID: ServicePointKind.CLINIC,
    Skill.ENGINEERING: ServicePointKind.ENGINEERING,
    Skill.FOOD_BEVERAGE: ServicePointKind.KITCHEN,
    Skill.HOUSEKEEPING: ServicePointKind.LINEN,
    Skill.FRONT_DESK: ServicePointKind.FRONT_DESK,
}


def supporting_point(skill: Skill) -> ServicePointKind:
    return _SUPPORT[skill]
