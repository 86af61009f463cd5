"""Recipes: one file that says model + data + training, validated before anything runs.

A recipe is TOML (or YAML) with four tables, each checked against the dataclass below that defines it
(unknown keys, wrong types and values outside the allowed ones are `ConfigError`s naming the file, line
and key, with a "did you mean" hint), so this module is also the reference of every recipe key:

```toml
[model]                      # ModelSection: a registry name with options, or a spec
name = "lenet5"

[data]                       # DataSection: digits | synthetic | glyphs | folder | tfds
source = "digits"
image_size = [32, 32]

[train]                      # TrainSection: optimizer, schedule, epochs, precision, distribution
epochs = 30
optimizer = "adam"
learning_rate = 0.001

[output]                     # OutputSection: where the run directory goes
dir = "runs/lenet5_digits"
```

A fine-tuning recipe has `[finetune]` (FinetuneSection: the starting weights, the new classifier) and
`[[finetune.phases]]` (PhaseSection: epochs, what to unfreeze, the phase's own learning rate) instead of
`[model]`; `kerascnn.train` runs its phases.

Command-line overrides (`--set train.epochs=3`) are applied to the parsed document before validation,
their values read as TOML values (`3`, `0.1`, `true`, `"text"`, `[32, 32]`; bare words are strings).
"""

from kerascnn.recipe.document import Recipe, dump, is_recipe
from kerascnn.recipe.loading import (
    apply_override,
    as_recipe,
    load_recipe,
    validate_recipe,
    with_values,
)
from kerascnn.recipe.schema import (  # noqa: F401  (the tables' names, for the reference)
    OPTIONAL,
    PHASE_TRAIN_KEYS,
    SECTIONS,
    TOP_LEVEL,
    AugmentSection,
    DataSection,
    FinetuneSection,
    ModelSection,
    OutputSection,
    PhaseSection,
    SpaceEntry,
    TrainSection,
    TuneSection,
)
from kerascnn.recipe.space import space_entry_problem, space_points

__all__ = [
    "load_recipe",
    "as_recipe",
    "Recipe",
    "ModelSection",
    "DataSection",
    "AugmentSection",
    "TrainSection",
    "FinetuneSection",
    "PhaseSection",
    "TuneSection",
    "SpaceEntry",
    "OutputSection",
    "apply_override",
    "validate_recipe",
    "is_recipe",
    "with_values",
    "space_points",
    "space_entry_problem",
    "dump",
]
