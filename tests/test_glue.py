"""ffbook.glue emits what myst-nb's glue emits, so the site pastes the value where the prose names it."""

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from myst_nb import glue as myst_glue
from myst_nb.core.variables import format_plain_text
from myst_nb.ext.glue import extract_glue_data_cell

import ffbook


def _displayed(call) -> list[dict]:
    InteractiveShell.instance()  # a display publisher, as in a notebook
    with capture_output() as captured:
        call()
    return [{"data": o.data, "metadata": o.metadata} for o in captured.outputs]


@pytest.mark.parametrize("value", ["1.39%", 100, 0.25])
def test_glue_emits_what_myst_nb_emits(value):
    ours = _displayed(lambda: ffbook.glue("err", value))
    theirs = _displayed(lambda: myst_glue("err", value, display=False))
    assert ours == theirs and len(ours) == 1


def test_a_glued_value_reaches_the_prose_and_stays_off_the_page():
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="trained\n")]
    for output in _displayed(lambda: (ffbook.glue("err", "1.39%"), ffbook.glue("epochs", 100))):
        outputs.append(nbformat.v4.new_output("display_data", data=output["data"], metadata=output["metadata"]))
    cell = nbformat.v4.new_code_cell("...", outputs=outputs)
    found = dict(extract_glue_data_cell(cell))
    assert format_plain_text(found["err"]["data"]["text/plain"], "") == "1.39%"
    assert format_plain_text(found["epochs"]["data"]["text/plain"], "d") == "100"
    assert [o["output_type"] for o in cell.outputs] == ["stream"]  # hidden: the page shows the print only


def test_glue_returns_its_value_and_refuses_what_the_prose_cannot_show():
    assert _displayed(lambda: ffbook.glue("seconds", 12.5)) and ffbook.glue("seconds", 12.5) == 12.5
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        ffbook.glue("test error", "1%")
    with pytest.raises(TypeError, match="value must be a real number or a str"):
        ffbook.glue("flag", True)
    with pytest.raises(ValueError, match="value must be a finite number"):
        ffbook.glue("err", float("nan"))
