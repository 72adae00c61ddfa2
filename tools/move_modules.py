"""Issue 22's package move: rewrite imports of moved vae_latent_study modules (temporary tooling).

    python tools/move_modules.py FILE...

Rewrites `vae_latent_study.OLD` dotted names and `from vae_latent_study import OLD[ as X]` to the new modules,
keeping the local name (`from vae_latent_study.kinds.heatmaps import data as heatmaps`)."""

import re
import sys
from pathlib import Path

MOVES = {
    "kinds": "kinds.registry",
    "heatmaps": "kinds.heatmaps.data",
    "explore": "kinds.heatmaps.explore",
    "latent_plots": "kinds.heatmaps.latent_plots",
    "heatmap_transfer": "kinds.heatmaps.transfer",
    "reference": "kinds.heatmaps.reference",
    "evaluation": "kinds.heatmaps.evaluate",
    "images": "kinds.images.data",
    "images_evaluation": "kinds.images.evaluate",
    "cvae_evaluation": "kinds.images.cvae",
    "classifier": "kinds.images.classifier",
    "normal_1d": "kinds.normal_1d.data",
    "normal_1d_generation": "kinds.normal_1d.evaluate",
    "factor_model": "kinds.factor_model.data",
    "factor_model_evaluation": "kinds.factor_model.evaluate",
    "toy_manifold": "kinds.toy_manifold.data",
    "toy_manifold_evaluation": "kinds.toy_manifold.evaluate",
    "latents": "evaluation.latents",
    "probes": "evaluation.probes",
    "metrics": "evaluation.disentanglement",
    "trajectories": "evaluation.trajectories",
    "equivalence": "aggregate.equivalence",
    "report": "report.page",
}

FROM_IMPORT = re.compile(r"^(?P<indent>[ \t]*)from vae_latent_study import (?P<names>\([^)]*\)|[^\n]*)", re.M)
DOTTED = re.compile(r"vae_latent_study\.(?P<mod>[a-z_0-9]+)\b(?!\.py)")


def _from_import(match: re.Match) -> str:
    indent, names = match["indent"], match["names"]
    comment = ""
    if "#" in names and not names.startswith("("):
        names, comment = names.split("#", 1)
        comment = "  #" + comment
    items = [n.strip() for n in names.strip().strip("()").replace("\n", " ").split(",") if n.strip()]
    keep, lines = [], []
    for item in items:
        name, _, alias = item.partition(" as ")
        name, alias = name.strip(), alias.strip()
        if name in MOVES:
            parent, _, leaf = ("vae_latent_study." + MOVES[name]).rpartition(".")
            local = alias or name
            lines.append(f"{indent}from {parent} import {leaf}" + ("" if leaf == local else f" as {local}"))
        else:
            keep.append(item)
    if keep:
        lines.insert(0, f"{indent}from vae_latent_study import {', '.join(keep)}")
    if not lines:
        return match[0]
    lines[0] += comment
    return "\n".join(lines)


def _dotted(match: re.Match) -> str:
    mod = match["mod"]
    return "vae_latent_study." + MOVES[mod] if mod in MOVES else match[0]


def rewrite(text: str) -> str:
    return FROM_IMPORT.sub(_from_import, DOTTED.sub(_dotted, text))


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        path = Path(arg)
        old = path.read_text()
        new = rewrite(old)
        if new != old:
            path.write_text(new)
            print("rewrote", path)
