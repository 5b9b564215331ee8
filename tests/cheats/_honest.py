"""The honest part every cheat shares: NadamW's functions (the cheats add what they add)."""

from optbench.algorithms.nadamw import SUBMISSION as NADAMW

get_batch_size = NADAMW.get_batch_size
init_optimizer_state = NADAMW.init_optimizer_state
update_params = NADAMW.update_params
data_selection = NADAMW.data_selection
