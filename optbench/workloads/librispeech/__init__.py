"""What AlgoPerf's LibriSpeech workloads at full scale share (:mod:`.workload`: AlgoPerf's
LibriSpeech data, CTC loss, WER and the size ``full``; :mod:`.metrics`: AlgoPerf's WER); the
workloads themselves are :mod:`optbench.workloads.librispeech_conformer` and
:mod:`optbench.workloads.librispeech_deepspeech`. A package, so that the workload registry does
not take it for a workload module."""
