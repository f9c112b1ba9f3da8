#!/usr/bin/env python3
"""An independent float64 re-implementation of ByzFL 0.0.11's D-SGD loop, for the fixtures of
`lbounds train --compat byzfl` (tests/cli_train.rs).

Pure Python (no NumPy, no torch): it follows the loop as documented line by line in the
ByzFL training reference (benchmark/train.py, client.py, server.py of the byzfl==0.0.11
wheel), full-batch, in float64:

    for t in 0..T-1:
        g_i = grad of the mean loss of honest client i over all its rows      (i in order)
        [LabelFlipping: g'_i = same, labels C-1-y]
        m_i = beta*m_i + (1-beta)*g_i            (m_i = 0 at start; no bias correction)
        b = Attack([m_i]) (or mean g'_i);  vectors = [m_1..m_h] + [b]*f
        a = Agg(Pre_k(...Pre_1(vectors)))     (declared f given to every f-aware step)
        w = w - lr_t*(a + wd*w)                (torch.optim.SGD with weight_decay)
        lr_{t+1} = MultiStepLR(milestones, gamma)

Models: logistic = nn.Linear(p, 1) + BCEWithLogitsLoss (labels 0/1); softmax =
nn.Linear(p, K) + CrossEntropyLoss; parameters in parameters_to_vector order (weight
[out, in] row-major, then bias).

Rules: Average, TrMean, Median, Krum, CenteredClipping (stateful: starts from its previous
output; the attack keeps its own CC object), pre-aggregator NNM. Attacks: SignFlipping,
InnerProductManipulation (tau = 2), ALittleIsEnough (tau = 1.5, std with ddof = 1),
LabelFlipping, Optimal_InnerProductManipulation and Optimal_ALittleIsEnough (ByzFL's
20-evaluation expansion/contraction search against the defence in use).

Usage (from the repository root):

    python3 scripts/byzfl_train_reference.py      # writes tests/fixtures/train/byzfl_dsgd.json

Each case: the CLI arguments, the CSV data (columns x0..x{p-1}, y, client), the initial vector
and the parameter vector after every round, numbers in repr (shortest round-trip) form.
"""

import json
import math
import random
import sys

OUT = "tests/fixtures/train/byzfl_dsgd.json"


# ---------------------------------------------------------------------------------------------
# models (gradient of the batch-mean loss)


def forward(w, p, k, x):
    """Logits of one example: W x + b, W [k, p] row-major then b [k]."""
    return [sum(w[o * p + j] * x[j] for j in range(p)) + w[k * p + o] for o in range(k)]


def grad(model, w, p, k, rows):
    """Mean loss gradient over rows [(x, y)]."""
    g = [0.0] * len(w)
    m = len(rows)
    for x, y in rows:
        z = forward(w, p, k, x)
        if model == "logistic":
            s = 1.0 / (1.0 + math.exp(-z[0]))
            dz = [(s - y) / m]
        else:
            mx = max(z)
            e = [math.exp(v - mx) for v in z]
            tot = sum(e)
            dz = [(e[o] / tot - (1.0 if o == y else 0.0)) / m for o in range(k)]
        for o in range(k):
            for j in range(p):
                g[o * p + j] += dz[o] * x[j]
            g[k * p + o] += dz[o]
    return g


# ---------------------------------------------------------------------------------------------
# vector helpers


def mean(vs):
    n = len(vs)
    return [sum(v[j] for v in vs) / n for j in range(len(vs[0]))]


def sub(a, b):
    return [x - y for x, y in zip(a, b)]


def norm(a):
    return math.sqrt(sum(x * x for x in a))


def sqdist(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


# ---------------------------------------------------------------------------------------------
# aggregators (ByzFL semantics)


def trmean(vs, f):
    n, d = len(vs), len(vs[0])
    out = []
    for j in range(d):
        col = sorted(v[j] for v in vs)
        kept = col[f:n - f]
        out.append(sum(kept) / len(kept))
    return out


def median(vs, f):
    n, d = len(vs), len(vs[0])
    out = []
    for j in range(d):
        col = sorted(v[j] for v in vs)
        out.append(col[n // 2] if n % 2 else (col[n // 2 - 1] + col[n // 2]) / 2.0)
    return out


def krum(vs, f):
    n = len(vs)
    scores = []
    for i in range(n):
        ds = sorted(sqdist(vs[i], vs[j]) for j in range(n))
        scores.append(sum(ds[1:n - f]))
    best = min(range(n), key=lambda i: (scores[i], i))
    return list(vs[best])


def nnm(vs, f):
    n = len(vs)
    out = []
    for i in range(n):
        order = sorted(range(n), key=lambda j: (sqdist(vs[i], vs[j]), j))
        out.append(mean([vs[j] for j in order[:n - f]]))
    return out


class CenteredClipping:
    """ByzFL's CenteredClipping(L=1, tau=100): keeps its last output in m."""

    def __init__(self, tau=100.0, steps=1):
        self.tau, self.steps, self.m = tau, steps, None

    def __call__(self, vs, f):
        v = self.m if self.m is not None else [0.0] * len(vs[0])
        for _ in range(self.steps):
            acc = [0.0] * len(v)
            for x in vs:
                dlt = sub(x, v)
                nr = norm(dlt)
                fac = 1.0 if nr == 0 else min(1.0, self.tau / nr)
                for j in range(len(v)):
                    acc[j] += dlt[j] * fac
            v = [v[j] + acc[j] / len(vs) for j in range(len(v))]
        self.m = v
        return v


class Defence:
    def __init__(self, rule, pre, f, cc_tau=100.0, carry=True):
        self.rule, self.pre, self.f = rule, pre, f
        self.cc = CenteredClipping(cc_tau) if rule == "centered_clipping" else None
        self.carry = carry

    def fresh(self):
        """Forget the CC state (only for checking that a case depends on it)."""
        if self.cc is not None and not self.carry:
            self.cc.m = None

    def __call__(self, vs):
        for p in self.pre:
            assert p == "nnm"
            vs = nnm(vs, self.f)
        if self.rule == "average":
            return mean(vs)
        if self.rule == "centered_clipping":
            return self.cc(vs, self.f)
        return {"trmean": trmean, "median": median, "krum": krum}[self.rule](vs, self.f)


# ---------------------------------------------------------------------------------------------
# attacks


def std1(vs, mu):
    n = len(vs)
    return [math.sqrt(sum((v[j] - mu[j]) ** 2 for v in vs) / (n - 1)) for j in range(len(mu))]


def optimal(kind, honest, f, defence):
    """ByzFL's _expansion_phase / _contraction_phase: 20 evaluations, start 0, delta 10,
    ratio 0.8; the attack's own defence object (its CC state carries)."""
    mu = mean(honest)
    sd = std1(honest, mu)

    def vec(t):
        if kind == "ipm":
            return [-t * v for v in mu]
        return [m + t * s for m, s in zip(mu, sd)]

    def J(t):
        out = defence(honest + [vec(t)] * f)
        return norm(sub(out, mu))

    best, by, delta, rem = 0.0, J(0.0), 10.0, 19
    while rem > 0:
        px = best + delta
        py = J(px)
        rem -= 1
        if py > by:
            best, by, delta = px, py, delta * 2
        else:
            delta *= 0.8
            break
    while rem > 0:
        px = best + delta
        py = J(px)
        rem -= 1
        if py > by:
            best, by = px, py
        delta *= 0.8
    return vec(best)


def attack(name, honest, flipped, f, attack_defence):
    mu = mean(honest)
    if name == "sign_flipping":
        return [-v for v in mu]
    if name == "inner_product_manipulation":
        return [-2.0 * v for v in mu]
    if name == "a_little_is_enough":
        sd = std1(honest, mu)
        return [m + 1.5 * s for m, s in zip(mu, sd)]
    if name == "label_flipping":
        return mean(flipped)
    if name == "optimal_inner_product_manipulation":
        return optimal("ipm", honest, f, attack_defence)
    if name == "optimal_a_little_is_enough":
        return optimal("alie", honest, f, attack_defence)
    raise ValueError(name)


# ---------------------------------------------------------------------------------------------
# the loop


def run(case, carry=True):
    p, k, model = case["p"], case["k"], case["model"]
    h, f = case["clients"] - case["f"], case["f"]
    data = case["rows"]
    clients = [[(r[:p], r[p]) for r in data if r[p + 1] == i] for i in range(h)]
    w = list(case["init"])
    beta, lr, wd = case["momentum"], case["lr"], case["weight_decay"]
    milestones, gamma = case["milestones"], case["lr_decay"]
    classes = case["classes"]
    tau = case.get("cc_tau", 100.0)
    server = Defence(case["rule"], case["pre"], f, tau)
    attack_defence = Defence(case["rule"], case["pre"], f, tau, carry)
    m = [[0.0] * len(w) for _ in range(h)]
    traj = []
    for t in range(case["rounds"]):
        gs = [grad(model, w, p, k, rows) for rows in clients]
        flipped = [
            grad(model, w, p, k, [(x, classes - 1 - y) for x, y in rows]) for rows in clients
        ]
        for i in range(h):
            m[i] = [beta * a + (1.0 - beta) * b for a, b in zip(m[i], gs[i])]
        vs = [list(v) for v in m]
        if f > 0:
            attack_defence.fresh()
            b = attack(case["attack"], vs, flipped, f, attack_defence)
            vs = vs + [b] * f
        a = server(vs)
        w = [wi - lr * (ai + wd * wi) for wi, ai in zip(w, a)]
        traj.append(list(w))
        # MultiStepLR: after step t+1, multiply by gamma per milestone equal to t+1.
        c = milestones.count(t + 1)
        if c:
            lr = lr * gamma ** c
    return traj


def make_case(rng, name, model, classes, p, clients, f, rule, pre, attack_name, rounds,
              lr=0.5, momentum=0.9, wd=1e-2, milestones=(3,), gamma=0.5, per_client=(4, 8),
              cc_tau=None):
    k = 1 if model == "logistic" else classes
    h = clients - f
    # Heterogeneous clients: each has its own feature offset and label mix.
    rows = []
    for i in range(clients):
        offset = [rng.uniform(-1, 1) for _ in range(p)]
        for _ in range(rng.randint(*per_client)):
            y = rng.randrange(classes)
            x = [round(rng.gauss(0, 1) + offset[j] + (0.8 if j == y % p else 0.0), 6)
                 for j in range(p)]
            rows.append(x + [y, i])
    rng.shuffle(rows)
    init = [round(rng.uniform(-0.5, 0.5), 6) for _ in range(k * p + k)]
    case = dict(name=name, model=model, classes=classes, p=p, k=k, clients=clients, f=f,
                rule=rule, pre=list(pre), attack=attack_name, rounds=rounds, lr=lr,
                momentum=momentum, weight_decay=wd, milestones=list(milestones),
                lr_decay=gamma, rows=rows, init=init)
    if cc_tau is not None:
        case["cc_tau"] = cc_tau
    assert len({r[p + 1] for r in rows if r[p + 1] < h}) == h
    case["params"] = run(case)
    return case


def main():
    rng = random.Random(20261203)
    cases = [
        make_case(rng, "logistic_average_signflip", "logistic", 2, 3, 5, 1, "average", [],
                  "sign_flipping", 6),
        make_case(rng, "softmax_trmean_alie", "softmax", 3, 4, 7, 2, "trmean", [],
                  "a_little_is_enough", 6),
        make_case(rng, "softmax_nnm_trmean_ipm", "softmax", 3, 3, 7, 2, "trmean", ["nnm"],
                  "inner_product_manipulation", 5),
        make_case(rng, "logistic_median_labelflip", "logistic", 2, 3, 6, 1, "median", [],
                  "label_flipping", 5),
        make_case(rng, "softmax_krum_signflip", "softmax", 3, 3, 8, 2, "krum", [],
                  "sign_flipping", 5),
        make_case(rng, "logistic_cc_optimal_ipm", "logistic", 2, 3, 6, 1,
                  "centered_clipping", [], "optimal_inner_product_manipulation", 5),
        make_case(rng, "softmax_nnm_trmean_optimal_alie", "softmax", 3, 3, 7, 2, "trmean",
                  ["nnm"], "optimal_a_little_is_enough", 4),
        make_case(rng, "logistic_cc_tau_optimal_alie", "logistic", 2, 3, 6, 1,
                  "centered_clipping", [], "optimal_a_little_is_enough", 5, cc_tau=0.1),
        make_case(rng, "softmax_average_no_attack", "softmax", 4, 3, 4, 0, "average", [],
                  "sign_flipping", 4, momentum=0.0, wd=0.0, milestones=()),
    ]
    for c in cases:
        # Whether the attack's own CC state carried across rounds changes the trajectory
        # (the cases that test that carry say so).
        c["state_matters"] = c["rule"] == "centered_clipping" and run(c, carry=False) != c[
            "params"]
    with open(OUT, "w") as fh:
        json.dump({"generator": "scripts/byzfl_train_reference.py", "cases": cases}, fh)
        fh.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
