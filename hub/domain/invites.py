"""Invite codes: readable, case-insensitive, and too many to guess at the allowed rate."""

from __future__ import annotations

import re
import secrets

from hub.errors import HubError

__all__ = ["new_invite_code", "normalize_invite_code"]

# (2^40.6) codes; README ("Guessing invite codes") has the arithmetic against the
# guessing rate the redemption limits allow.
_WORDS_A = (
    "AGILE ALERT AMBER AMPLE ARCTIC AZURE BALMY BLUE BOLD BRAVE BREEZY BRIGHT BRISK BUSY "
    "CALM CANDID CHEERY CIVIL CLEAR CLEVER COOL COPPER COSMIC COZY CRISP CURLY DAPPER "
    "DARING DEEP DIRECT DREAMY DUSTY EAGER EARLY ELDER EPIC EVEN EXACT FAIR FANCY FAST "
    "FIERCE FLEET FLUENT FOND FRANK FRESH FROSTY FUNNY GENTLE GIANT GLAD GOLDEN GOOD "
    "GRAND GREEN HANDY HAPPY HARDY HEARTY HONEST HUMBLE IDEAL IVORY JOLLY JUST KEEN KIND "
    "LARGE LEAFY LIGHT LITTLE LIVELY LONG LOYAL LUCID LUCKY MAGIC MELLOW MERRY MIGHTY "
    "MILD MINTY MODERN MOSSY NEAT NIMBLE NOBLE NORTH OPEN POLITE PRIME PROUD PURE QUICK "
    "QUIET RAPID RARE READY ROSY ROYAL RUSTIC SAFE SCARLET SERENE SHARP SILENT SILVER "
    "SIMPLE SLEEK SMART SOLID SONIC STEADY STILL STRONG SUNNY SWIFT TIDY TRUE VAST VIVID "
    "WARM WILD WISE WITTY YOUNG ZESTY"
).split()
_WORDS_B = (
    "ACORN ANCHOR APPLE ARROW ASPEN ATLAS BADGER BASIN BAY BEACON BEAR BERRY BIRCH BISON "
    "BLAZE BLOSSOM BOULDER BRANCH BRIDGE BROOK CANYON CASTLE CAVE CEDAR CHERRY CLIFF "
    "CLOUD CLOVER COMET CONDOR CORAL COVE CRANE CREEK CRYSTAL CYPRESS DAISY DAWN DELTA "
    "DOLPHIN DOVE DUNE EAGLE ELM EMBER FALCON FERN FIELD FINCH FJORD FLAME FLINT FOREST "
    "FOX FROST GALAXY GARDEN GEYSER GLACIER GLADE GROVE HARBOR HAVEN HAWK HERON HILL "
    "HOLLY IRIS ISLAND IVY JADE JAGUAR KESTREL LAGOON LAKE LANTERN LARK LILY LION LOTUS "
    "LYNX MAPLE MARBLE MARSH MEADOW MESA MINNOW MOON NEST NOVA OAK OASIS OCEAN OLIVE "
    "ORBIT OTTER OWL PANDA PEAK PEBBLE PELICAN PINE PLAIN PLUM POND POPPY PRISM QUARTZ "
    "RAIN RAVEN REEF RIDGE RIVER ROBIN SHORE SKY SPARK SPRING STAR STONE STORM SUMMIT "
    "TIDE TRAIL VALLEY WAVE WILLOW WIND"
).split()
# Today's codes (WORD-WORD-1234-5678) and the shorter ones issued before (WORD-WORD-1234).
_INVITE = re.compile(r"^[A-Z]+-[A-Z]+-(?:[0-9]{4}-[0-9]{4}|[0-9]{2,4})$")


def new_invite_code() -> str:
    """A readable code like `RAPID-DAWN-6942-0317`: two words and eight digits, about
    2^40 codes, so that at the redemption rate the hub allows, guessing a live one takes
    far longer than it lives."""
    words = f"{secrets.choice(_WORDS_A)}-{secrets.choice(_WORDS_B)}"
    return f"{words}-{secrets.randbelow(10_000):04d}-{secrets.randbelow(10_000):04d}"


def normalize_invite_code(code: str) -> str:
    """Invite codes are case-insensitive and tolerate spaces or underscores for dashes."""
    normal = re.sub(r"[\s_]+", "-", code.strip()).upper()
    if not _INVITE.match(normal):
        raise HubError("invite_invalid", "that is not an invite code (like RAPID-DAWN-6942-0317)")
    return normal
