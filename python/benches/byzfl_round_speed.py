"""ByzFL 0.0.11's own D-SGD round, timed on this host: the same-host anchor for the rounds
of `cargo bench --bench rounds` (docs/performance.md, "Training (issue 13)").

The setting of the issue's timing table: n = 50 clients (40 honest + 10 Byzantine), batch 32,
momentum 0.9, ALIE (tau = 1.5), synthetic 784-d data (1 000 records per honest client), ByzFL's
`fc_mnist` (784-100-10) or `logreg_mnist`, float32. One round is what ByzFL's `train.py` does
in its DSGD branch, through ByzFL's public classes: every honest client computes its gradient
on its next batch (`Client.compute_gradients`), the momentum vectors are read
(`get_flat_gradients_with_momentum`), the attack makes its copies
(`ByzantineClient.apply_attack`), the server aggregates and steps
(`Server.update_model_with_gradients`), and every client loads the new model
(`set_model_state`). Median of 10 rounds after 3 warm-up rounds, as the reference timings.

Needs `pip install torch byzfl==0.0.11` (not a dependency of lbounds; CI does not run this).

    python python/benches/byzfl_round_speed.py --model fc_mnist --threads 1
"""

import argparse
import platform
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset
from byzfl import ByzantineClient, Client, Server

HONEST, BYZANTINE, BATCH, PER_CLIENT = 40, 10, 32, 1000
RULES = {
    "Average": ({"name": "Average", "parameters": {}}, []),
    "TrMean": ({"name": "TrMean", "parameters": {"f": BYZANTINE}}, []),
    "NNM+TrMean": (
        {"name": "TrMean", "parameters": {"f": BYZANTINE}},
        [{"name": "NNM", "parameters": {"f": BYZANTINE}}],
    ),
    "Krum": ({"name": "Krum", "parameters": {"f": BYZANTINE}}, []),
    "GeometricMedian": ({"name": "GeometricMedian", "parameters": {}}, []),
}


def host():
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n")[0].splitlines()
        info = dict((k.strip(), v.strip()) for k, v in (l.split(":", 1) for l in first if ":" in l))
        return f"{info['vendor_id']} family {info['cpu family']} model {info['model']}"
    except (OSError, KeyError):
        return platform.processor() or "unknown"


def round_times(model, rule, x, y, rounds):
    agg, pre = RULES[rule]
    torch.manual_seed(1)
    loss = "NLLLoss" if model == "fc_mnist" else "CrossEntropyLoss"
    clients = [
        Client(
            {
                "model_name": model,
                "device": "cpu",
                "loss_name": loss,
                "LabelFlipping": False,
                "nb_labels": 10,
                "momentum": 0.9,
                "store_per_client_metrics": False,
                "training_dataloader": DataLoader(
                    TensorDataset(x[i * PER_CLIENT : (i + 1) * PER_CLIENT], y[i * PER_CLIENT : (i + 1) * PER_CLIENT]),
                    batch_size=BATCH,
                    shuffle=True,
                ),
            }
        )
        for i in range(HONEST)
    ]
    server = Server(
        {
            "device": "cpu",
            "model_name": model,
            "optimizer_name": "SGD",
            "learning_rate": 0.1,
            "weight_decay": 1e-4,
            "milestones": [1000],
            "learning_rate_decay": 0.5,
            "aggregator_info": agg,
            "pre_agg_list": pre,
            "test_loader": DataLoader(TensorDataset(x[:256], y[:256]), batch_size=256),
        }
    )
    byz = ByzantineClient({"f": BYZANTINE, "name": "ALittleIsEnough", "parameters": {"tau": 1.5}})
    times = []
    for t in range(rounds + 3):
        start = time.perf_counter()
        for c in clients:
            c.compute_gradients()
        honest = [c.get_flat_gradients_with_momentum() for c in clients]
        server.update_model_with_gradients(honest + byz.apply_attack(honest))
        state = server.get_dict_parameters()
        for c in clients:
            c.set_model_state(state)
        if t >= 3:
            times.append(time.perf_counter() - start)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="fc_mnist", choices=["fc_mnist", "logreg_mnist"])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--rules", default=",".join(RULES), help="comma-separated, of " + ", ".join(RULES))
    ap.add_argument("--rounds", type=int, default=10, help="timed rounds (after 3 warm-up)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"host: {host()}; torch {torch.__version__}, {args.threads} thread(s)")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(HONEST * PER_CLIENT, 784, generator=g)
    y = torch.randint(0, 10, (HONEST * PER_CLIENT,), generator=g)
    for rule in args.rules.split(","):
        t = round_times(args.model, rule, x, y, args.rounds)
        print(
            f"{args.model} {rule} + ALIE: median {statistics.median(t) * 1e3:.1f} ms "
            f"(min {min(t) * 1e3:.1f}, max {max(t) * 1e3:.1f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
