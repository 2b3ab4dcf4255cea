"""Writes the PS2 and PS3 red-team corpus (corpus_ps2_ps3/ps2/*.py, corpus_ps2_ps3/ps3/*.py) and its
EXPECTED.json. Run from autograder/tests/corpus_ps2_ps3:

    cd autograder/tests/corpus_ps2_ps3 && python ../build_corpus_ps2_ps3.py

One folder per problem set, because the isolated grader grades a folder for one assignment (a PS2 file in the PS1
corpus folder would be graded as a PS1 submission). The files it writes are committed; edit this script and re-run
it to change the corpus. Each submission is the solution with one classic mistake; its expected score is the
problem set's total minus the points of every function the mistake reaches (a mistake in a function that another
graded function calls costs both)."""
import json, os
from reference_ps2_ps3 import CONTEXT, CPC_LOSS, EMA, ENQ, HEAD2, HEAD3, LOGITS, LOSS, PS2, PS3, SCORES, SHUFFLE  # noqa: E402,F401
POINTS = {"ps2": {"ema_update": 1, "dequeue_and_enqueue": 2, "moco_logits": 2, "moco_loss": 1,
                  "batch_shuffle_indices": 1},
          "ps3": {"cpc_scores": 2, "cpc_loss": 2, "ContextNetwork": 2}}
SOURCES = {"ps2": (HEAD2, PS2), "ps3": (HEAD3, PS3)}
expected = {}


def submission(ps, name, doc, replace=None, status=None, feedback=None):
    head, functions = SOURCES[ps]
    replace = replace or {}
    parts = [f'"""Red-team corpus ({ps}): {doc}"""\n', head]
    for fn, src in functions.items():
        src = replace.get(fn, src)
        assert src != functions[fn] or fn not in replace, f"{name}: the replacement of {fn} changed nothing"
        parts.append(src + "\n\n")
    os.makedirs(ps, exist_ok=True)
    with open(f"{ps}/{name}", "w") as f:
        f.write("".join(parts).rstrip() + "\n")
    status = status or {}
    score = sum(p for fn, p in POINTS[ps].items() if status.get(fn, "passed") == "passed")
    expected[f"{ps}/{name}"] = {"assignment": ps, "score": score, "status": status, "feedback": feedback or {},
                                "flagged": False}


# ================================================================================================ PS2 (7 points)
submission("ps2", "correct.py", "the solution's code: 7 of 7")
submission("ps2", "correct_written_differently.py", "correct, written with loops, lerp and scatter: 7 of 7", replace={
 "ema_update": '''def ema_update(key_param, query_param, momentum):
    return torch.lerp(query_param, key_param, momentum)  # q + m (k - q) = m k + (1 - m) q
''',
 "dequeue_and_enqueue": '''def dequeue_and_enqueue(queue, ptr, keys):
    new_queue = queue.clone()
    for i in range(keys.shape[0]):
        new_queue[(ptr + i) % queue.shape[0]] = keys[i]
    return new_queue, (ptr + keys.shape[0]) % queue.shape[0]
''',
 "moco_logits": '''def moco_logits(q, k, queue, temperature=0.07):
    logits = torch.einsum("nc,mc->nm", q, torch.cat([k.new_zeros(1, k.shape[1]), queue]))
    logits[:, 0] = torch.einsum("nc,nc->n", q, k)
    return logits / temperature, torch.zeros(len(q), dtype=torch.int64)
''',
 "batch_shuffle_indices": '''def batch_shuffle_indices(n, generator=None):
    idx_shuffle = torch.randperm(n, generator=generator)
    idx_unshuffle = torch.empty_like(idx_shuffle)
    idx_unshuffle[idx_shuffle] = torch.arange(n)
    return idx_shuffle, idx_unshuffle
'''})
# the keys get gradients: the reference detaches k and the queue, so d loss / d k must be zero
submission("ps2", "mistake_key_gradient.py", "moco_loss lets the gradient reach the keys (no detach)",
           replace={"moco_loss": LOSS.replace("moco_logits(q, k.detach(), queue.detach(), temperature)",
                                              "moco_logits(q, k, queue, temperature)")},
           status={"moco_loss": "wrong"}, feedback={"moco_loss": "`k` has to be detached"})
submission("ps2", "mistake_ema_swapped.py", "EMA sides swapped: m * query + (1 - m) * key",
           replace={"ema_update": EMA.replace("momentum * key_param + (1.0 - momentum) * query_param",
                                              "momentum * query_param + (1.0 - momentum) * key_param")},
           status={"ema_update": "wrong"}, feedback={"ema_update": "wrong side"})
# writes the rows that fit before the end and never wraps the pointer (no error: the quiet version of the bug)
submission("ps2", "mistake_enqueue_no_wrap.py", "enqueue without wrap-around (the rows past the end are dropped)",
           replace={"dequeue_and_enqueue": '''def dequeue_and_enqueue(queue, ptr, keys):
    new_queue = queue.clone()
    end = min(ptr + keys.shape[0], queue.shape[0])
    new_queue[ptr:end] = keys[:end - ptr]
    return new_queue, ptr + keys.shape[0]
'''}, status={"dequeue_and_enqueue": "wrong"}, feedback={"dequeue_and_enqueue": "does not wrap around"})
# the classic slice version: it raises on the case whose keys run past the end of the queue
submission("ps2", "mistake_enqueue_slice_past_the_end.py", "enqueue with a plain slice: fails when the keys wrap",
           replace={"dequeue_and_enqueue": '''def dequeue_and_enqueue(queue, ptr, keys):
    new_queue = queue.clone()
    new_queue[ptr:ptr + keys.shape[0]] = keys
    return new_queue, (ptr + keys.shape[0]) % queue.shape[0]
'''}, status={"dequeue_and_enqueue": "crashed"}, feedback={"dequeue_and_enqueue": "pointer wraps around the end"})
submission("ps2", "mistake_enqueue_at_start.py", "the keys are written at the start of the queue, not at the pointer",
           replace={"dequeue_and_enqueue": ENQ.replace("rows = (ptr + torch.arange(N)) % K", "rows = torch.arange(N)")},
           status={"dequeue_and_enqueue": "wrong"}, feedback={"dequeue_and_enqueue": "at the start of the queue"})
# FIFO at the wrong end: the N rows just before the pointer are the NEWEST keys; the oldest start at the pointer
submission("ps2", "mistake_enqueue_wrong_end.py", "the keys overwrite the newest entries (before the pointer)",
           replace={"dequeue_and_enqueue": ENQ.replace("rows = (ptr + torch.arange(N)) % K",
                                                       "rows = (ptr - N + torch.arange(N)) % K")},
           status={"dequeue_and_enqueue": "wrong"}, feedback={"dequeue_and_enqueue": "newest"})
submission("ps2", "mistake_shuffle_inverse.py", "un-shuffles with the shuffle itself instead of its inverse",
           replace={"batch_shuffle_indices": SHUFFLE.replace("torch.argsort(idx_shuffle)", "idx_shuffle.clone()")},
           status={"batch_shuffle_indices": "wrong"}, feedback={"batch_shuffle_indices": "not the inverse"})
# about 1 % off: every value is within 1 % of the reference, far outside the grader's tolerance (1e-6 in float64)
submission("ps2", "off_by_one_percent.py", "moco_loss with the temperature off by 1 % (t * 1.01)",
           replace={"moco_loss": LOSS.replace("queue.detach(), temperature)", "queue.detach(), temperature * 1.01)")},
           status={"moco_loss": "wrong"})

# ================================================================================================ PS3 (6 points)
submission("ps3", "correct.py", "the solution's code: 6 of 6")
submission("ps3", "correct_written_differently.py", "correct: einsum, an explicit loop over k, a GRUCell: 6 of 6",
           replace={
 "cpc_scores": '''def cpc_scores(context, future, weight):
    return torch.einsum("jd,dc,ic->ij", future, weight, context)
''',
 "cpc_loss": '''def cpc_loss(context, futures, weights):
    total = 0.0
    for k in range(futures.shape[1]):
        scores = cpc_scores(context, futures[:, k], weights[k])
        total = total + (torch.logsumexp(scores, dim=1) - torch.diagonal(scores)).mean()
    return total / futures.shape[1]
''',
 "ContextNetwork": '''class ContextNetwork(nn.Module):
    def __init__(self, input_dim, context_dim):
        super().__init__()
        self.cell = nn.GRUCell(input_dim, context_dim)
        self.context_dim = context_dim

    def forward(self, z):
        h = z.new_zeros(z.shape[0], self.context_dim)
        out = []
        for t in range(z.shape[1]):
            h = self.cell(z[:, t], h)
            out.append(h)
        return torch.stack(out, dim=1)
'''})
# transposed scores also break cpc_loss, which calls cpc_scores: its softmax then runs over contexts (2 of 6)
submission("ps3", "mistake_scores_transposed.py", "cpc_scores transposed: row j holds z_j^T W c_i",
           replace={"cpc_scores": SCORES.replace("return prediction @ future.T", "return future @ prediction.T")},
           status={"cpc_scores": "wrong", "cpc_loss": "wrong"},
           feedback={"cpc_scores": "transposed", "cpc_loss": "wrong dimension"})
submission("ps3", "mistake_gru_sees_the_future.py", "a bidirectional GRU: the context at t sees z after t",
           replace={"ContextNetwork": '''class ContextNetwork(nn.Module):
    def __init__(self, input_dim, context_dim):
        super().__init__()
        self.gru = nn.GRU(input_dim, context_dim, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * context_dim, context_dim)

    def forward(self, z):
        context, _ = self.gru(z)
        return self.out(context)
'''}, status={"ContextNetwork": "wrong"}, feedback={"ContextNetwork": "depends on inputs after t"})
submission("ps3", "mistake_gru_last_state_everywhere.py", "the GRU's final state c_T used at every step (sees the future)",
           replace={"ContextNetwork": CONTEXT.replace(
               "        context, _ = self.gru(z)\n        return context\n",
               "        _, h = self.gru(z)\n        return h[-1].unsqueeze(1).expand(-1, z.shape[1], -1)\n")},
           status={"ContextNetwork": "wrong"}, feedback={"ContextNetwork": "depends on inputs after t"})
submission("ps3", "off_by_one_percent.py", "cpc_loss 1 % too large (the mean scaled by 1.01)",
           replace={"cpc_loss": CPC_LOSS.replace("torch.stack(losses).mean()", "torch.stack(losses).mean() * 1.01")},
           status={"cpc_loss": "wrong"})

with open("EXPECTED.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print(len(expected))
