"""The seeded service catalogue: an NYC-like set of 311 services, with their agencies.

Codes are stable slugs (they appear in Open311 URLs and in stored SRs); names follow NYC's
open-data complaint types. ``expected_days`` feeds Open311's ``expected_datetime``. Seeded at
bridge start-up by `ServiceCatalogue.seed` (missing codes only: edits are kept).
"""

from __future__ import annotations

from line311.db.services import AttributeValue, Service, ServiceAttribute

__all__ = ["AGENCIES", "SEED_SERVICES"]

AGENCIES = {
    "NYPD": "New York City Police Department",
    "HPD": "Department of Housing Preservation and Development",
    "DOT": "Department of Transportation",
    "DSNY": "Department of Sanitation",
    "DEP": "Department of Environmental Protection",
    "DOHMH": "Department of Health and Mental Hygiene",
    "DOB": "Department of Buildings",
    "DPR": "Department of Parks and Recreation",
    "DCWP": "Department of Consumer and Worker Protection",
}


def _values(*pairs: tuple[str, str]) -> tuple[AttributeValue, ...]:
    return tuple(AttributeValue(k, n) for k, n in pairs)


def _choice(
    code: str, description: str, *pairs: tuple[str, str], order: int = 1, required: bool = True
) -> ServiceAttribute:
    return ServiceAttribute(
        code=code,
        description=description,
        datatype="singlevaluelist",
        required=required,
        order=order,
        values=_values(*pairs),
    )


_LOCATION_TYPE = _choice(
    "location_type",
    "Where is the problem?",
    ("residential_building", "Residential building / house"),
    ("street_sidewalk", "Street / sidewalk"),
    ("commercial", "Store / commercial"),
    ("park", "Park / playground"),
    order=2,
)

SEED_SERVICES: tuple[Service, ...] = (
    Service(
        "noise-residential",
        "Noise - Residential",
        "Loud music, parties, banging or talking from a home or apartment.",
        "NYPD",
        "Noise",
        ("noise", "music", "party", "neighbor"),
        service_notice="NYPD responds to noise complaints as resources permit.",
        expected_days=1,
        attributes=(
            _choice(
                "descriptor",
                "What kind of noise?",
                ("loud_music_party", "Loud music / party"),
                ("banging_pounding", "Banging / pounding"),
                ("loud_talking", "Loud talking"),
                ("loud_tv", "Loud television"),
            ),
            _LOCATION_TYPE,
        ),
    ),
    Service(
        "noise-street",
        "Noise - Street/Sidewalk",
        "Loud music, talking or vehicles on a street or sidewalk.",
        "NYPD",
        "Noise",
        ("noise", "street", "car"),
        expected_days=1,
        attributes=(
            _choice(
                "descriptor",
                "What kind of noise?",
                ("loud_music_party", "Loud music / party"),
                ("loud_talking", "Loud talking"),
                ("car_horn_alarm", "Car horn or alarm"),
            ),
        ),
    ),
    Service(
        "noise-construction",
        "Noise - Construction",
        "Construction before or after permitted hours.",
        "DEP",
        "Noise",
        ("noise", "construction", "jackhammer"),
        expected_days=7,
        attributes=(
            _choice(
                "descriptor",
                "When is the work happening?",
                ("before_hours", "Before 7 AM"),
                ("after_hours", "After 6 PM"),
                ("weekend", "On a weekend"),
            ),
        ),
    ),
    Service(
        "illegal-parking",
        "Illegal Parking",
        "A vehicle parked at a hydrant, double-parked, or against posted signs.",
        "NYPD",
        "Vehicles and Parking",
        ("parking", "hydrant", "double parked"),
        expected_days=1,
        attributes=(
            _choice(
                "descriptor",
                "What is the violation?",
                ("blocked_hydrant", "Blocked hydrant"),
                ("double_parked", "Double parked, blocking traffic"),
                ("posted_sign", "Posted parking sign violation"),
                ("commercial_overnight", "Commercial overnight parking"),
            ),
            ServiceAttribute("plate", "Licence plate, if known", required=False, order=2),
        ),
    ),
    Service(
        "blocked-driveway",
        "Blocked Driveway",
        "A vehicle blocking a driveway.",
        "NYPD",
        "Vehicles and Parking",
        ("driveway", "blocked", "car"),
        expected_days=1,
        attributes=(
            _choice(
                "descriptor",
                "Is the driveway fully or partly blocked?",
                ("no_access", "No access"),
                ("partial_access", "Partial access"),
            ),
        ),
    ),
    Service(
        "derelict-vehicle",
        "Derelict Vehicle",
        "An abandoned vehicle without plates or badly damaged.",
        "DSNY",
        "Vehicles and Parking",
        ("abandoned", "car", "derelict"),
        expected_days=30,
    ),
    Service(
        "heat-hot-water",
        "Heat/Hot Water",
        "No heat or no hot water in a residential building.",
        "HPD",
        "Housing",
        ("heat", "hot water", "boiler", "radiator", "apartment"),
        service_notice=(
            "From October 1 to May 31 landlords must keep indoor temperatures at 68F by day "
            "(when it is below 55F outside) and 62F at night."
        ),
        expected_days=3,
        attributes=(
            _choice(
                "problem",
                "What is missing?",
                ("no_heat", "Heat"),
                ("no_hot_water", "Hot water"),
                ("both", "Heat and hot water"),
            ),
            _choice(
                "scope",
                "Is it the entire building or your apartment only?",
                ("entire_building", "Entire building"),
                ("apartment_only", "Apartment only"),
                order=2,
            ),
            ServiceAttribute("apartment", "Apartment number", required=True, order=3),
        ),
    ),
    Service(
        "unsanitary-condition",
        "Unsanitary Condition",
        "Mold, pests, garbage or sewage in a residential building.",
        "HPD",
        "Housing",
        ("mold", "pests", "roaches", "apartment"),
        expected_days=14,
        attributes=(
            _choice(
                "descriptor",
                "What is the condition?",
                ("mold", "Mold"),
                ("pests", "Pests"),
                ("garbage", "Garbage"),
                ("sewage", "Sewage"),
            ),
            ServiceAttribute("apartment", "Apartment number", required=False, order=2),
        ),
    ),
    Service(
        "street-light",
        "Street Light Condition",
        "A street light that is out, cycling, or on during the day.",
        "DOT",
        "Streets and Sidewalks",
        ("street light", "lamp", "dark"),
        expected_days=10,
        attributes=(
            _choice(
                "descriptor",
                "What is wrong with the light?",
                ("out", "Street light out"),
                ("cycling", "Cycling on and off"),
                ("day_burning", "On during the day"),
                ("pole_damaged", "Pole damaged or leaning"),
            ),
            ServiceAttribute("pole_number", "Pole number, if visible", required=False, order=2),
        ),
    ),
    Service(
        "pothole",
        "Street Condition - Pothole",
        "A pothole on a street or highway.",
        "DOT",
        "Streets and Sidewalks",
        ("pothole", "road", "street"),
        service_notice="DOT aims to repair potholes within 15 days.",
        expected_days=15,
        attributes=(
            _choice(
                "roadway",
                "Where is the pothole?",
                ("street", "Street"),
                ("highway", "Highway"),
                ("bike_lane", "Bike lane"),
            ),
            ServiceAttribute(
                "width_inches",
                "Approximate width in inches",
                datatype="number",
                required=False,
                order=2,
            ),
        ),
    ),
    Service(
        "missed-collection",
        "Missed Collection",
        "Garbage, recycling or compost not collected on the scheduled day.",
        "DSNY",
        "Sanitation",
        ("garbage", "trash", "recycling", "pickup", "collection"),
        service_notice="Leave the material at the curb; a truck will be sent.",
        expected_days=2,
        attributes=(
            _choice(
                "material",
                "What was missed?",
                ("garbage", "Garbage"),
                ("recycling_paper", "Paper recycling"),
                ("recycling_mgp", "Metal, glass and plastic"),
                ("compost", "Compost"),
                ("bulk", "Bulk item"),
            ),
            ServiceAttribute(
                "collection_date",
                "Scheduled collection day",
                datatype="datetime",
                required=True,
                order=2,
            ),
        ),
    ),
    Service(
        "dirty-conditions",
        "Dirty Conditions",
        "Litter, dumping or overflowing litter baskets on a street or sidewalk.",
        "DSNY",
        "Sanitation",
        ("litter", "dumping", "dirty"),
        expected_days=7,
    ),
    Service(
        "rodents",
        "Rodent",
        "Rats or mice seen, or signs of rodents, outside or in a building.",
        "DOHMH",
        "Health",
        ("rats", "mice", "rodents"),
        expected_days=30,
        attributes=(
            _choice(
                "descriptor",
                "What did you see?",
                ("rat_sighting", "Rat sighting"),
                ("mouse_sighting", "Mouse sighting"),
                ("signs", "Signs of rodents (droppings, burrows)"),
            ),
            _LOCATION_TYPE,
        ),
    ),
    Service(
        "food-establishment",
        "Food Establishment",
        "Unsanitary conditions or food poisoning at a restaurant or store.",
        "DOHMH",
        "Health",
        ("restaurant", "food", "poisoning"),
        expected_days=30,
    ),
    Service(
        "water-leak-sewer",
        "Sewer",
        "Sewer backup, catch basin clogged, or a manhole cover missing.",
        "DEP",
        "Water and Sewer",
        ("sewer", "catch basin", "flooding"),
        expected_days=5,
        attributes=(
            _choice(
                "descriptor",
                "What is the problem?",
                ("backup", "Sewer backup"),
                ("catch_basin", "Catch basin clogged"),
                ("manhole", "Manhole cover missing"),
            ),
        ),
    ),
    Service(
        "building-no-permit",
        "General Construction/Plumbing",
        "Work without a permit or an unsafe building.",
        "DOB",
        "Buildings",
        ("construction", "permit", "unsafe"),
        expected_days=40,
    ),
    Service(
        "damaged-tree",
        "Damaged Tree",
        "A tree or branch that is damaged, dead or hanging.",
        "DPR",
        "Parks and Trees",
        ("tree", "branch", "limb"),
        expected_days=30,
        attributes=(
            _choice(
                "descriptor",
                "What is the tree's condition?",
                ("branch_cracked", "Branch cracked and will fall"),
                ("tree_leaning", "Tree leaning"),
                ("tree_dead", "Tree dead"),
            ),
        ),
    ),
    Service(
        "consumer-complaint",
        "Consumer Complaint",
        "A complaint about a business, a purchase or a service.",
        "DCWP",
        "Business",
        ("store", "refund", "overcharge"),
        type="batch",
        expected_days=60,
    ),
)
