"""What AlgoPerf's ImageNet workloads at full scale share (:mod:`.workload`: AlgoPerf's ImageNet
data, loss, metric and the size ``full``); the workloads themselves are
:mod:`optbench.workloads.imagenet_resnet` and :mod:`optbench.workloads.imagenet_vit`. A package,
so that the workload registry does not take it for a workload module."""
