"""AlgoPerf's word error rate of CTC outputs (``algoperf/workloads/librispeech_conformer/
metrics.py``'s ``compute_wer``), without TensorFlow.

Decoding: AlgoPerf's greedy (best-path) CTC decoding, frame-wise argmax with padded frames
counting as blanks, repeats merged, blanks (0) dropped
(:func:`optbench.workloads.common.ctc_metrics.greedy_decode`).

Detokenisation and counting: AlgoPerf turns each hypothesis and each reference (its target
tokens up to the padding) into text with tf-text's ``detokenize`` and then applies Python's
``str`` to the *TensorFlow tensor* it returns, so the text it scores is
``tf.Tensor(b'WORDS', shape=(), dtype=string)``: the bytes' ``repr`` (double quotes around text
with an apostrophe) inside the tensor's print form. Word errors are the word-level edit
distance between the two such strings (split on whitespace) and the words counted are the
reference string's: two more per utterance than its transcript has, and a first or last word
that counts as wrong when only the other string's quoting differs. :func:`algoperf_text` makes
the same string, so WER here is AlgoPerf's number, which its targets were set on. (Checked
against TensorFlow 2.21 and tensorflow-text 2.21: ``str(tokenizer.detokenize(ids))`` gives
exactly these strings.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from optbench.workloads.common.ctc_metrics import edit_distance


def algoperf_text(text: str) -> str:
    """``text`` as AlgoPerf's WER sees it: ``str()`` of a TensorFlow string scalar."""
    return f"tf.Tensor({text.encode('utf-8')!r}, shape=(), dtype=string)"


def word_errors(
    hypotheses: Sequence[Sequence[int]],
    references: Sequence[Sequence[int]],
    detokenize: Callable[[Sequence[int]], str],
) -> tuple[int, int]:
    """AlgoPerf's ``(word errors, words)`` of a batch of decoded and reference token ids."""
    errors = words = 0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        hyp = algoperf_text(detokenize(hypothesis)).split()
        ref = algoperf_text(detokenize(reference)).split()
        errors += edit_distance(hyp, ref)
        words += len(ref)
    return errors, words
