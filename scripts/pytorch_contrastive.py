"""PyTorch reference for benches/train_throughput.rs: the same contrastive model and training step
as contrada's `train` stage, timed on the same kind of data.

Model (as src/learn): two MLP encoders (hidden Linear -> LayerNorm -> GELU, then Linear to n_e),
the l2 tilting s_ij = -|g_u(u_i) - g_v(v_j)|^2 / (2 tau) with tau fixed, the CLIP-weighted
conditional loss (lambda_u, lambda_v) = (1, 1) with log-sum-exp over the whole batch, Adam.
Data: u ~ N(0, I), v = A u + noise with a fixed random A (seeded); only the shapes matter for
throughput. One warm-up epoch, then `--epochs` timed epochs.
Prints one JSON line: samples per second, seconds, threads, the final loss.
"""
import argparse
import json
import time

import torch
from torch import nn


def mlp(d_in, widths, n_e):
    layers, d = [], d_in
    for w in widths:
        layers += [nn.Linear(d, w), nn.LayerNorm(w), nn.GELU()]
        d = w
    layers.append(nn.Linear(d, n_e))
    return nn.Sequential(*layers)


def conditional_loss(s, lambda_u=1.0, lambda_v=1.0):
    diag = torch.diagonal(s).mean()
    l_uv = torch.logsumexp(s, dim=0).mean() - diag
    l_vu = torch.logsumexp(s, dim=1).mean() - diag
    return 0.5 * lambda_u * l_uv + 0.5 * lambda_v * l_vu


def l2_scores(gu, gv, tau):
    return -torch.cdist(gu, gv).square() / (2.0 * tau)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=8192)
    p.add_argument("--d-u", type=int, default=98)
    p.add_argument("--d-v", type=int, default=50)
    p.add_argument("--widths-u", default="256")
    p.add_argument("--widths-v", default="256,256")
    p.add_argument("--n-e", type=int, default=32)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    widths = lambda s: [int(w) for w in s.split(",") if w]
    u = torch.randn(a.n, a.d_u)
    v = u @ torch.randn(a.d_u, a.d_v) / a.d_u ** 0.5 + 0.5 * torch.randn(a.n, a.d_v)
    enc_u, enc_v = mlp(a.d_u, widths(a.widths_u), a.n_e), mlp(a.d_v, widths(a.widths_v), a.n_e)
    opt = torch.optim.Adam(list(enc_u.parameters()) + list(enc_v.parameters()), lr=a.lr)

    def epoch():
        total, batches = 0.0, 0
        for idx in torch.randperm(a.n).split(a.batch):
            if len(idx) < 2:
                continue
            loss = conditional_loss(l2_scores(enc_u(u[idx]), enc_v(v[idx]), 1.0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
        return total / batches

    epoch()
    start = time.perf_counter()
    for _ in range(a.epochs):
        loss = epoch()
    seconds = time.perf_counter() - start
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
                      "samples_per_s": a.n * a.epochs / seconds, "seconds": seconds, "final_loss": loss}))


if __name__ == "__main__":
    main()
