"""How a user changes each reading option of a dataset, as the messages that ask for a change name it.

As ``motor.features.hints`` does for a feature build: each message is written once, with the hint for its option
filled in: the config's setting and the CLI's flag by default (``CLI_DATA_HINTS``). The app passes its own
(``load_dataset(..., hints=...)``): its upload form sets these options with checkboxes, and a flag it does not
have would only puzzle its users.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataHints:
    duplicates: str  # follows "remove them": the other way to accept repeated user-item rows ("" where there is none)
    missing_features: str  # follows "add their rows": the other way to accept items without a feature row (or "")


CLI_DATA_HINTS = DataHints(
    duplicates=", or set duplicates to 'keep_last' (CLI: --duplicates keep_last)",
    missing_features=", or set missing_features to 'fill_mean' or 'fill_zero' (CLI: --missing-features fill_mean) "
                     "to fill and mark them")
