#!/bin/sh
# Plan SDK vs PyTorch on an MLP (Fashion-MNIST, batch 64, plain SGD, 1 and 2
# threads). Usage: bench/mlp_vs_torch.sh [BUILD_DIR] [EPOCHS]; see sdk_vs_torch.sh.
exec "$(dirname "$0")/sdk_vs_torch.sh" mlp "$@"
