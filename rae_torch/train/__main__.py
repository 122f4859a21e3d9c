"""`python -m rae_torch.train stage1|stats|cache|stage2|export --config FILE` (also under torchrun)."""

from .cli import main

if __name__ == "__main__":
    main()
