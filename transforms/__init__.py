"""Passes of taylor-mlir (installed as `taylor_mlir.transforms`)."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Our passes by name, each behind a lazy getter (as xDSL registers its own)."""

    def get_taylor_mode():
        from taylor_mlir.transforms.taylor_mode import TaylorModePass

        return TaylorModePass

    def get_taylor_expand():
        from taylor_mlir.transforms.taylor_expand import TaylorExpandPass

        return TaylorExpandPass

    def get_taylor_collapse():
        from taylor_mlir.transforms.taylor_collapse import TaylorCollapsePass

        return TaylorCollapsePass

    def get_factor_replicates():
        from taylor_mlir.transforms.factor_replicates import FactorReplicatesPass

        return FactorReplicatesPass

    def get_schedule_sums_early():
        from taylor_mlir.transforms.schedule_sums_early import ScheduleSumsEarlyPass

        return ScheduleSumsEarlyPass

    def get_fold_seed_broadcasts():
        from taylor_mlir.transforms.fold_seed_broadcasts import (
            FoldSeedBroadcastsPass,
        )

        return FoldSeedBroadcastsPass

    def get_tile_directions():
        from taylor_mlir.transforms.tile_directions import TileDirectionsPass

        return TileDirectionsPass

    def get_batch_linear_maps():
        from taylor_mlir.transforms.batch_linear_maps import BatchLinearMapsPass

        return BatchLinearMapsPass

    def get_convert_taylor_to_tensor():
        from taylor_mlir.transforms.convert_taylor_to_tensor import (
            ConvertTaylorToTensorPass,
        )

        return ConvertTaylorToTensorPass

    def get_convert_elementwise_to_linalg():
        from taylor_mlir.transforms.convert_elementwise_to_linalg import (
            ConvertElementwiseToLinalgPass,
        )

        return ConvertElementwiseToLinalgPass

    def get_tensor_cleanup():
        from taylor_mlir.transforms.tensor_cleanup import TensorCleanupPass

        return TensorCleanupPass

    return {
        "tensor-cleanup": get_tensor_cleanup,
        "taylor-mode": get_taylor_mode,
        "taylor-expand": get_taylor_expand,
        "taylor-collapse": get_taylor_collapse,
        "factor-replicates": get_factor_replicates,
        "schedule-sums-early": get_schedule_sums_early,
        "fold-seed-broadcasts": get_fold_seed_broadcasts,
        "tile-directions": get_tile_directions,
        "batch-linear-maps": get_batch_linear_maps,
        "convert-taylor-to-tensor": get_convert_taylor_to_tensor,
        "convert-elementwise-to-linalg": get_convert_elementwise_to_linalg,
    }
