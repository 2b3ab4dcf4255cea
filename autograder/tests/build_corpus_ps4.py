"""Writes the PS4 red-team corpus (corpus_ps4/ps4/*.py) and its EXPECTED.json. Run from autograder/tests/corpus_ps4:

    cd autograder/tests/corpus_ps4 && python ../build_corpus_ps4.py

As build_corpus_ps2_ps3.py: each submission is the solution with one classic mistake (or an honest rewrite); its
expected score is the total (8) minus the points of every function the mistake reaches. The scores were confirmed
with the real isolated grader (test_corpus_ps4.py) before they were pinned."""
import json, os

HEAD = "import torch\nimport torch.nn.functional as F\n\n"
SIMSIAM = '''def simsiam_loss(p1, p2, z1, z2):
    def D(p, z):
        return -(F.normalize(p, dim=1) * F.normalize(z.detach(), dim=1)).sum(dim=1).mean()
    return 0.5 * D(p1, z2) + 0.5 * D(p2, z1)
'''
BYOL = '''def byol_loss(p, z):
    p, z = F.normalize(p, dim=1), F.normalize(z.detach(), dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()
'''
SINKHORN = '''@torch.no_grad()
def sinkhorn(scores, epsilon=0.05, iterations=3):
    Q = torch.exp(scores / epsilon)
    Q = Q / Q.sum()
    B, K = Q.shape
    for _ in range(iterations):
        Q = Q / Q.sum(dim=0, keepdim=True) / K  # every prototype: mass 1/K
        Q = Q / Q.sum(dim=1, keepdim=True) / B  # every sample: mass 1/B
    return Q * B
'''
DINO = '''def dino_loss(student, teacher, center, student_temperature=0.1, teacher_temperature=0.04):
    targets = F.softmax((teacher - center).detach() / teacher_temperature, dim=-1)
    log_p = F.log_softmax(student / student_temperature, dim=-1)
    losses = []
    for i in range(teacher.shape[0]):
        for v in range(student.shape[0]):
            if v != i:
                losses.append(-(targets[i] * log_p[v]).sum(dim=-1).mean())
    return torch.stack(losses).mean()
'''
CENTER = '''@torch.no_grad()
def update_center(center, student, teacher, momentum=0.9):
    batch_mean = teacher.reshape(-1, teacher.shape[-1]).mean(dim=0)
    return momentum * center + (1 - momentum) * batch_mean
'''
PS4 = {"simsiam_loss": SIMSIAM, "byol_loss": BYOL, "sinkhorn": SINKHORN, "dino_loss": DINO, "update_center": CENTER}
POINTS = {"simsiam_loss": 2, "byol_loss": 1, "sinkhorn": 2, "dino_loss": 2, "update_center": 1}
expected = {}


def submission(name, doc, replace=None, status=None, feedback=None):
    replace = replace or {}
    parts = [f'"""Red-team corpus (ps4): {doc}"""\n', HEAD]
    for fn, src in PS4.items():
        new = replace.get(fn, src)
        assert new != src or fn not in replace, f"{name}: the replacement of {fn} changed nothing"
        parts.append(new + "\n\n")
    os.makedirs("ps4", exist_ok=True)
    with open(f"ps4/{name}", "w") as f:
        f.write("".join(parts).rstrip() + "\n")
    status = status or {}
    score = sum(p for fn, p in POINTS.items() if status.get(fn, "passed") == "passed")
    expected[f"ps4/{name}"] = {"assignment": "ps4", "score": score, "status": status, "feedback": feedback or {},
                               "flagged": False}


submission("correct.py", "the solution's code: 8 of 8")
submission("correct_written_differently.py",
           "correct: cosine_similarity, a log-domain Sinkhorn, an einsum DINO loss, lerp: 8 of 8", replace={
 "simsiam_loss": '''def simsiam_loss(p1, p2, z1, z2):
    return -(F.cosine_similarity(p1, z2.detach(), dim=-1).mean() + F.cosine_similarity(p2, z1.detach(), dim=-1).mean()) / 2
''',
 "sinkhorn": '''def sinkhorn(scores, epsilon=0.05, iterations=3):
    log_q = scores.detach() / epsilon
    B, K = log_q.shape
    log_q = log_q - torch.logsumexp(log_q.flatten(), 0)
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - torch.log(torch.tensor(float(K)))
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - torch.log(torch.tensor(float(B)))
    return torch.exp(log_q) * B
''',
 "dino_loss": '''def dino_loss(student, teacher, center, student_temperature=0.1, teacher_temperature=0.04):
    V, T = student.shape[0], teacher.shape[0]
    targets = torch.softmax((teacher.detach() - center.detach()) / teacher_temperature, dim=-1)
    log_p = torch.log_softmax(student / student_temperature, dim=-1)
    cross = -torch.einsum("tnk,vnk->tv", targets, log_p) / student.shape[1]  # (T, V) mean over the batch
    mask = torch.ones(T, V, dtype=torch.bool)
    mask[torch.arange(T), torch.arange(T)] = False
    return cross[mask].mean()
''',
 "update_center": '''def update_center(center, student, teacher, momentum=0.9):
    return torch.lerp(teacher.detach().flatten(0, -2).mean(0), center, momentum)
'''})
submission("mistake_no_stop_gradient.py", "SimSiam without the stop-gradient (the collapsing ablation)",
           replace={"simsiam_loss": SIMSIAM.replace("z.detach()", "z")},
           status={"simsiam_loss": "wrong"}, feedback={"simsiam_loss": "stop-gradient is missing"})
submission("mistake_detach_wrong_branch.py", "SimSiam with the .detach() on the predictions p instead of z",
           replace={"simsiam_loss": SIMSIAM.replace("F.normalize(p, dim=1) * F.normalize(z.detach(), dim=1)",
                                                    "F.normalize(p.detach(), dim=1) * F.normalize(z, dim=1)")},
           status={"simsiam_loss": "wrong"}, feedback={"simsiam_loss": "no gradient reaches `p1`"})
submission("mistake_byol_mse_loss.py", "BYOL with F.mse_loss of the normalised vectors (divides by D too)",
           replace={"byol_loss": BYOL.replace("(2 - 2 * (p * z).sum(dim=1)).mean()", "F.mse_loss(p, z)")},
           status={"byol_loss": "wrong"}, feedback={"byol_loss": "divides by D"})
submission("mistake_sinkhorn_rows_only.py", "Sinkhorn that only normalises the rows (a softmax)",
           replace={"sinkhorn": SINKHORN.replace("        Q = Q / Q.sum(dim=0, keepdim=True) / K  # every prototype: mass 1/K\n", "")},
           status={"sinkhorn": "wrong"}, feedback={"sinkhorn": "only the rows are normalised"})
submission("mistake_sinkhorn_wrong_axes.py", "Sinkhorn from the paper's K x B code without the transpose",
           replace={"sinkhorn": SINKHORN.replace("Q.sum(dim=0, keepdim=True) / K", "Q.sum(dim=1, keepdim=True) / B")
                    .replace("Q.sum(dim=1, keepdim=True) / B  # every sample", "Q.sum(dim=0, keepdim=True) / K  # every sample")},
           status={"sinkhorn": "wrong"}, feedback={"sinkhorn": "wrong axes"})
submission("mistake_sinkhorn_one_iteration.py", "Sinkhorn that runs a single iteration whatever it is asked",
           replace={"sinkhorn": SINKHORN.replace("range(iterations)", "range(1)")},
           status={"sinkhorn": "wrong"}, feedback={"sinkhorn": "single iteration"})
submission("mistake_dino_temperatures_swapped.py", "DINO with the student and teacher temperatures swapped",
           replace={"dino_loss": DINO.replace("/ teacher_temperature", "/ STUDENT_T").replace(
               "/ student_temperature", "/ teacher_temperature").replace("/ STUDENT_T", "/ student_temperature")},
           status={"dino_loss": "wrong"}, feedback={"dino_loss": "temperatures are swapped"})
submission("mistake_dino_no_sharpening.py", "DINO without sharpening (the teacher uses the student's temperature)",
           replace={"dino_loss": DINO.replace("/ teacher_temperature", "/ student_temperature")},
           status={"dino_loss": "wrong"}, feedback={"dino_loss": "no sharpening"})
submission("mistake_dino_no_centering.py", "DINO without centering",
           replace={"dino_loss": DINO.replace("(teacher - center).detach()", "teacher.detach()")},
           status={"dino_loss": "wrong"}, feedback={"dino_loss": "no centering"})
submission("mistake_dino_teacher_gradient.py", "DINO that lets the gradient reach the teacher and the center",
           replace={"dino_loss": DINO.replace("(teacher - center).detach()", "(teacher - center)")},
           status={"dino_loss": "wrong"}, feedback={"dino_loss": "must be zero"})
submission("mistake_center_from_student.py", "the center updated from the student's outputs",
           replace={"update_center": CENTER.replace("teacher.reshape(-1, teacher.shape[-1])",
                                                    "student.reshape(-1, student.shape[-1])")},
           status={"update_center": "wrong"}, feedback={"update_center": "student's outputs"})
submission("mistake_center_in_place.py", "the center updated in place (DINO's own code does center.mul_(m))",
           replace={"update_center": CENTER.replace("return momentum * center + (1 - momentum) * batch_mean",
                                                    "return center.mul_(momentum).add_((1 - momentum) * batch_mean)")},
           status={"update_center": "wrong"}, feedback={"update_center": "in place"})

with open("EXPECTED.json", "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print(len(expected))
