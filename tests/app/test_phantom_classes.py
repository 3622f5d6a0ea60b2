"""The phantom editor draws a random anatomy with a model trained on the real archives' classes."""

import numpy as np
import pytest

from app.views.phantom import in_model_classes
from ussim.errors import UsageError
from ussim.phantoms import ivus, ovary


def test_simulator_classes_are_merged_onto_a_real_trained_models_classes():
    label = np.array([[ovary.BACKGROUND, ovary.OVARY, ovary.FOLLICLE, ovary.BOWEL]], np.uint8)
    state = {"organ": "ovary", "classes": list(ovary.CLASS_NAMES), "label": label}
    mapped, note = in_model_classes(state, ["background", "ovary"])
    np.testing.assert_array_equal(mapped, [[0, 1, 1, 0]])
    # only the classes present in the mask are named
    assert note == "; drawn with follicle as ovary, bowel as background"
    state = {"organ": "ivus", "classes": list(ivus.CLASS_NAMES),
             "label": np.array([[ivus.CATHETER, ivus.CALCIFIED, ivus.OUTSIDE]], np.uint8)}
    mapped, note = in_model_classes(state, list(ivus.REAL_CLASSES))
    np.testing.assert_array_equal(mapped, [[2, 1, 0]])
    assert "catheter as lumen" in note and "plaque_calcified as wall" in note


def test_same_classes_pass_unchanged_and_others_are_refused():
    state = {"organ": "ovary", "classes": ["background", "ovary"], "label": np.array([[0, 1]], np.uint8)}
    mapped, note = in_model_classes(state, ["background", "ovary"])
    assert mapped is state["label"] and note == ""
    with pytest.raises(UsageError, match="trained on classes"):
        in_model_classes({**state, "classes": list(ovary.CLASS_NAMES)}, ["background", "lesion"])
