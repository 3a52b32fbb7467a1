"""What a feature build did, per modality and overall: returned and written as ``feature_report.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

REPORT_NAME = "feature_report.json"
# Lists in the report are complete; the CLI prints only this many examples.
EXAMPLES = 10


@dataclass
class ModalityReport:
    """What happened to one modality."""

    modality: str
    file: str
    model_id: str
    dim: int
    n_items: int
    n_present: int  # items with content that encoded fine
    n_missing: int  # rows filled with the modality mean
    n_cached: int  # distinct contents taken from the cache
    n_computed: int  # distinct contents run through the model
    missing: list[dict] = field(default_factory=list)  # [{"item_id", "reason"}]

    @property
    def missing_ids(self) -> list[str]:
        return [m["item_id"] for m in self.missing]


@dataclass
class FeatureReport:
    """Returned by ``build_features`` and written as ``feature_report.json``."""

    items_csv: str
    id_col: str
    n_items: int
    out_dir: str
    text: ModalityReport | None = None
    image: ModalityReport | None = None
    text_cols: list[str] | None = None
    images: str | None = None
    image_col: str | None = None
    skipped_files: list[dict] = field(default_factory=list)  # [{"name", "reason"}] not pictures etc.
    unused_images: list[str] = field(default_factory=list)  # pictures that matched no item
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """A few human-readable lines for a terminal or a log."""
        lines = [f"{self.n_items} items from {self.items_csv} (id column {self.id_col!r})"]
        for m in (self.text, self.image):
            if m is None:
                continue
            line = (
                f"{m.modality}: {m.n_present} encoded, {m.n_missing} filled with the mean "
                f"({m.n_cached} from cache, {m.n_computed} computed) -> {m.file}"
            )
            lines.append(line)
            for x in m.missing[:EXAMPLES]:
                lines.append(f"  missing {x['item_id']}: {x['reason']}")
            if m.n_missing > EXAMPLES:
                lines.append(f"  ... {m.n_missing - EXAMPLES} more in {REPORT_NAME}")
        if self.skipped_files:
            lines.append(f"skipped {len(self.skipped_files)} file(s), e.g. " + "; ".join(
                f"{s['name']} ({s['reason']})" for s in self.skipped_files[:3]))
        if self.unused_images:
            lines.append(f"{len(self.unused_images)} picture(s) matched no item, e.g. {self.unused_images[:3]}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append(f"done in {self.seconds:.1f} s")
        return "\n".join(lines)
