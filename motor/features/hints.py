"""How a user changes each choice of a feature build, as the messages that ask for a change name it.

Each such message is written once, with the hint for its choice filled in: the CLI's flags by default
(``CLI_HINTS``). The app passes its own (``build_features(..., hints=...)``): its raw-content form has
no id or picture column control, and a flag it does not have would only puzzle its users.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hints:
    id_col: str  # a sentence: how to make the items CSV's id column found
    image_col: str  # ends "Name files <item_id>.jpg...": another way to match pictures ("" where there is none)
    text_cols: str  # "give ..., ... or both": the text columns
    images: str  # the pictures
    bad_zip: str  # a sentence: what to do about a pictures zip that cannot be read
    more_files: str  # follows "split it": how to allow more pictures ("" where the limit is fixed)
    more_bytes: str  # follows "use smaller pictures": how to allow more bytes in all ("" where it is fixed)


CLI_HINTS = Hints(id_col="Rename the id column or name it with --id-col.",
                  image_col=" or name each item's file in a CSV column (--image-col)",
                  text_cols="text columns (--text-cols)", images="pictures (--images)",
                  bad_zip="pass a .zip of pictures or a folder.",
                  more_files=", or raise the limit with --max-pictures",
                  more_bytes=", or raise the limit with --max-pictures-gb")
