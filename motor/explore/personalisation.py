"""Do users get different lists? One sentence from runs' ``metrics.json["personalisation"]``.

Training writes the figures (``motor.personalisation``); the Train page puts the runs it just
trained side by side with the popularity ranking of the same split, so a Recall that is really
popularity shows as such. Pure functions: plain dicts in, text out.
"""

from __future__ import annotations


def personalisation_of(metrics: dict) -> dict | None:
    """A run's ``personalisation`` dict, None when it has none (a run trained before it existed)."""
    p = metrics.get("personalisation") if isinstance(metrics, dict) else None
    ok = isinstance(p, dict) and all(isinstance(p.get(k), float) for k in ("top_overlap", "popularity_top_overlap"))
    return p if ok else None


def personalisation_sentence(runs: dict[str, dict]) -> str:
    """``{name: metrics}`` -> "Share of items two users' top-20 lists have in common: ID 13%, MOTOR 19% (a
    popularity ranking ...: 54%); the item vectors span an effective rank of 52.3 (ID), 14.2 (MOTOR) of 64
    dimensions." ('' when no run has the figures)."""
    found = {name: p for name, m in runs.items() if (p := personalisation_of(m)) is not None}
    if not found:
        return ""
    first = next(iter(found.values()))
    shares = ", ".join(f"{name} {p['top_overlap']:.0%}" for name, p in found.items())
    text = (f"**Do users get different lists?** Share of items two users' top-{first['k']} lists have in common: "
            f"{shares} (a popularity ranking, the same list for everyone less their seen items: "
            f"{first['popularity_top_overlap']:.0%})")
    ranks = {name: p for name, p in found.items() if isinstance(p.get("item_effective_rank"), float)}
    if ranks:
        text += ("; the item vectors span an effective rank of " +
                 ", ".join(f"{p['item_effective_rank']:.1f} ({name})" for name, p in ranks.items()) +
                 f" of {next(iter(ranks.values()))['dim']} dimensions")
    return text + "."


def popularity_recall(runs: dict[str, dict]) -> tuple[int, float] | None:
    """``(k, test Recall@k)`` of a popularity ranking on the runs' split, from the first run that has it (None:
    no run has it, e.g. runs trained before it was written). A learned model worth showing beats it."""
    for m in runs.values():
        p = personalisation_of(m)
        if p is not None and isinstance(p.get(f"popularity_recall@{p['k']}"), float):
            return p["k"], p[f"popularity_recall@{p['k']}"]
    return None


def popularity_sentence(runs: dict[str, dict]) -> str:
    """"A popularity ranking ... gets test Recall@20 0.1434 on this split; ID is below it." ('' when no run has the
    figure). Names the runs below it, since a learned model that does not beat popularity shows little."""
    reference = popularity_recall(runs)
    if reference is None:
        return ""
    k, value = reference
    recalls = {name: (m.get("test") or {}).get(f"recall@{k}") for name, m in runs.items()}
    below = [name for name, r in recalls.items() if isinstance(r, float) and r < value]
    verdict = (f"{', '.join(below)} {'is' if len(below) == 1 else 'are'} below it" if below
               else "every model here is above it")
    return (f"A popularity ranking (each user gets the most-interacted items they have not seen) gets test "
            f"Recall@{k} {value:.4f} on this split; {verdict}.")


def personalisation_warnings(runs: dict[str, dict]) -> list[str]:
    """``"NAME: warning"`` for each run whose figures say it ranks nearly every user alike (the warning's sentence
    goes on after the colon: 'MOTOR: the model ranks ...')."""
    return [f"{name}: {p['warning'][:1].lower()}{p['warning'][1:]}" for name, m in runs.items()
            if (p := personalisation_of(m)) is not None and p.get("warning")]
