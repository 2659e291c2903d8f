"""The README's "Supported ops" table is the one generated from the import
table (taylor_mlir/tools/supported_ops.py)."""

from taylor_mlir.frontend.aten import RULES
from taylor_mlir.frontend.export import DECOMPOSED
from taylor_mlir.tools import supported_ops


def test_the_readme_table_is_generated_from_the_rules():
    assert supported_ops.readme_table() == supported_ops.table(), (
        "the README's supported-ops table is stale: run "
        "python -m taylor_mlir.tools.supported_ops --update"
    )


def test_every_rule_and_decomposition_has_a_row():
    names = {row[0].split("`")[1] for row in supported_ops.rows()}
    assert {t._schema.name for t in RULES} | {
        p._qualified_op_name for p in DECOMPOSED
    } == names


def test_composed_functions_are_marked_as_running_on_iree():
    """special ops and matrix ops are composed for IREE (backends/
    special_functions_iree.py, matrix_iree.py), float64 erf too."""
    rows = {row[0].split("`")[1]: row for row in supported_ops.rows()}
    assert rows["aten::erfinv"][3] == "yes"
    assert rows["aten::_linalg_slogdet"][3] == "yes (up to 16 x 16)"
    assert rows["aten::erf"][3] == "yes"  # composed for float64 (erf_float64.py)
    assert rows["aten::_softmax"][1] == "torch's decomposition"
